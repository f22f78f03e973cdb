"""A Salesforce outage degrades the admin status and never takes a web node out of the load balancer."""

from __future__ import annotations

from tests.fixtures.app import signed_in_client


def _admin_client(app):
    return signed_in_client(app, "admin", "admin@example.jp")


def test_readyz_stays_200_while_the_dev_org_answers_503_to_everything(make_app, devorg):
    app = make_app(**devorg.app_settings(), config={"SALESFORCE_GATEWAY_OPTIONS": {"backoff_seconds": 0}})
    client = _admin_client(app)
    devorg.inject_fault(".*", "503", count=1000)

    status = client.get("/admin/status")
    assert status.status_code == 200
    assert status.get_json()["status"] == "degraded" and "salesforce" in status.get_json()["down"]
    for path in ("/readyz", "/healthz", "/livez"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.get_json() == {"status": "ok"}


def test_readyz_stays_200_when_the_org_cannot_be_reached_at_all(make_app, devorg):
    settings = {**devorg.app_settings(), "salesforce_instance_url": "https://127.0.0.1:1",
                "salesforce_login_url": "https://127.0.0.1:1"}
    app = make_app(**settings, config={"SALESFORCE_GATEWAY_OPTIONS": {"backoff_seconds": 0}})
    client = _admin_client(app)

    status = client.get("/admin/status")
    assert status.status_code == 200
    assert status.get_json()["status"] == "degraded" and "salesforce" in status.get_json()["down"]
    assert client.get("/readyz").status_code == 200
    assert client.get("/healthz").get_json() == {"status": "ok"}
