"""GET /healthz."""

import db
from web.health import register_check
from work import queue


def test_healthz_answers_200_with_json_when_the_database_is_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["status"] == "ok" and body["down"] == []
    assert body["checks"]["database"]["ok"] is True


def test_healthz_reports_queue_depths_of_jobs_and_every_other_work_queue(app, client):
    with db.get_db(app).transaction() as session:
        queue.enqueue(session, "sync.cycle")
        queue.enqueue(session, "mail.log_tasks")
    queues = client.get("/healthz").get_json()["checks"]["database"]["queues"]
    assert queues["jobs"] == 2
    assert queues["writeback_items"] == 0


def test_healthz_answers_503_naming_the_database_when_it_is_down(make_app, tmp_path):
    app = make_app(database_url=f"sqlite:///{tmp_path}/missing-dir/nope/x.db")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert "database" in body["down"] and body["status"] == "down"
    assert "unable to open database file" in body["checks"]["database"]["error"]


def test_a_failing_registered_check_makes_healthz_503_naming_it(app, client):
    def salesforce_unreachable():
        raise ConnectionError("connection refused\nsecond line that must not leak")

    register_check(app, "salesforce_test", salesforce_unreachable)
    register_check(app, "sync_test", lambda: (True, {"last_sync": "2026-11-23T10:00:00+00:00"}))
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["down"] == ["salesforce_test"]
    assert body["checks"]["salesforce_test"] == {"ok": False, "error": "ConnectionError: connection refused"}
    assert body["checks"]["sync_test"]["last_sync"] == "2026-11-23T10:00:00+00:00"
    assert body["checks"]["database"]["ok"] is True
