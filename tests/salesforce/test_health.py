"""The "salesforce" check of the admin status (/admin/status); readiness never depends on it."""

from __future__ import annotations

import responses

from tests.fixtures.app import signed_in_client

from .conftest import API, ORG


def _app(make_app):
    return make_app(salesforce_instance_url=ORG, salesforce_access_token="t",
                    config={"SALESFORCE_GATEWAY_OPTIONS": {"backoff_seconds": 0}})


def _admin(app):
    return signed_in_client(app, "admin", "admin@example.jp")


def test_admin_status_reports_salesforce_reachable_with_api_usage(make_app, fake_org):
    fake_org.add(responses.GET, f"{API}/limits/", json={}, headers={"Sforce-Limit-Info": "api-usage=42/100000"})
    client = _admin(_app(make_app))

    body = client.get("/admin/status").get_json()

    assert body["checks"]["salesforce"]["ok"] is True
    assert body["checks"]["salesforce"]["usage"]["api_used"] == 42
    client.get("/admin/status")
    assert len(fake_org.calls) == 1  # the answer is cached; status views do not burn API calls


def test_salesforce_down_degrades_the_status_but_readiness_stays_200(make_app, fake_org):
    fake_org.add(responses.GET, f"{API}/limits/", status=503, json=[])
    client = _admin(_app(make_app))

    response = client.get("/admin/status")

    assert response.status_code == 200
    assert response.get_json()["status"] == "degraded" and response.get_json()["down"] == ["salesforce"]
    assert len(fake_org.calls) == 1  # a probe is not retried: the status must answer quickly
    assert client.get("/readyz").status_code == 200
    assert len(fake_org.calls) == 1  # readiness never asks Salesforce


def test_admin_status_is_fine_when_no_org_is_configured_and_no_dev_org_runs(sign_in):
    body = sign_in("admin").get("/admin/status").get_json()
    assert body["checks"]["salesforce"] == {"ok": True, "configured": False,
                                            "detail": "no Salesforce settings and no dev org running"}
