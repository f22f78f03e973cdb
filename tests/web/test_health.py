"""Health: /livez and /readyz (public, terse) and /admin/status (admins, detailed)."""

import db
from web.health import register_check
from work import queue


def test_livez_and_readyz_answer_200_with_nothing_but_a_status(client):
    for path in ("/livez", "/readyz", "/healthz"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-store"
        assert response.get_json() == {"status": "ok"}, path


def test_public_probes_show_no_queue_depths_errors_or_sign_in_method(app, client):
    def salesforce_unreachable():
        raise ConnectionError("connection refused to https://secret-org.my.salesforce.com")

    register_check(app, "salesforce_test", salesforce_unreachable)
    with db.get_db(app).transaction() as session:
        queue.enqueue(session, "sync.cycle")
    for path in ("/livez", "/readyz", "/healthz"):
        response = client.get(path)
        assert response.status_code == 200, path
        text = response.get_data(as_text=True)
        for secret in ("jobs", "queues", "salesforce", "ConnectionError", "auth"):
            assert secret not in text, (path, text)


def test_readyz_and_healthz_answer_503_when_the_database_is_down_without_saying_why(make_app, tmp_path):
    app = make_app(database_url=f"sqlite:///{tmp_path}/missing-dir/nope/x.db")
    client = app.test_client()
    for path in ("/readyz", "/healthz"):
        response = client.get(path)
        assert response.status_code == 503
        assert response.get_json() == {"status": "unavailable"}
    assert client.get("/livez").status_code == 200  # the process itself is fine: do not restart it


def test_admin_status_needs_an_admin(app, client, sign_in):
    assert client.get("/admin/status").status_code == 302  # to the sign-in page
    assert sign_in("operator").get("/admin/status").status_code == 403
    assert sign_in("admin").get("/admin/status").status_code == 200


def test_admin_status_reports_queue_depths_of_jobs_and_every_other_work_queue(app, sign_in):
    with db.get_db(app).transaction() as session:
        queue.enqueue(session, "sync.cycle")
        queue.enqueue(session, "mail.log_tasks")
    body = sign_in("admin").get("/admin/status").get_json()
    assert body["status"] == "ok" and body["down"] == []
    queues = body["checks"]["database"]["queues"]
    assert queues["jobs"] == 2
    assert queues["writeback_items"] == 0


def test_a_failing_registered_check_degrades_the_admin_status_and_never_readiness(app, client, sign_in):
    def salesforce_unreachable():
        raise ConnectionError("connection refused\nsecond line that must not leak")

    register_check(app, "salesforce_test", salesforce_unreachable)
    register_check(app, "sync_test", lambda: (True, {"last_sync": "2026-11-23T10:00:00+00:00"}))
    response = sign_in("admin").get("/admin/status")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "degraded" and body["down"] == ["salesforce_test"]
    assert body["checks"]["salesforce_test"] == {"ok": False, "error": "ConnectionError: connection refused"}
    assert body["checks"]["sync_test"]["last_sync"] == "2026-11-23T10:00:00+00:00"
    assert body["checks"]["database"]["ok"] is True
    assert client.get("/readyz").status_code == 200


def test_admin_status_says_down_naming_the_database_when_it_is_down(make_app, tmp_path):
    from web.health import status_report

    app = make_app(database_url=f"sqlite:///{tmp_path}/missing-dir/nope/x.db")
    with app.test_request_context("/admin/status"):
        code, body = status_report()
    assert code == 503 and body["status"] == "down" and "database" in body["down"]
    assert "unable to open database file" in body["checks"]["database"]["error"]
