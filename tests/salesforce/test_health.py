"""The "salesforce" check of /healthz."""

from __future__ import annotations

import responses

from .conftest import API, ORG


def _app(make_app):
    return make_app(salesforce_instance_url=ORG, salesforce_access_token="t",
                    config={"SALESFORCE_GATEWAY_OPTIONS": {"backoff_seconds": 0}})


def test_healthz_reports_salesforce_reachable_with_api_usage(make_app, fake_org):
    fake_org.add(responses.GET, f"{API}/limits/", json={}, headers={"Sforce-Limit-Info": "api-usage=42/100000"})
    client = _app(make_app).test_client()

    body = client.get("/healthz").get_json()

    assert body["checks"]["salesforce"]["ok"] is True
    assert body["checks"]["salesforce"]["usage"]["api_used"] == 42
    client.get("/healthz")
    assert len(fake_org.calls) == 1  # the answer is cached; health probes do not burn API calls


def test_healthz_answers_503_naming_salesforce_when_it_is_down(make_app, fake_org):
    fake_org.add(responses.GET, f"{API}/limits/", status=503, json=[])
    response = _app(make_app).test_client().get("/healthz")

    assert response.status_code == 503
    assert response.get_json()["down"] == ["salesforce"]
    assert len(fake_org.calls) == 1  # a probe is not retried: /healthz must answer quickly


def test_healthz_is_fine_when_no_org_is_configured_and_no_dev_org_runs(client):
    body = client.get("/healthz").get_json()
    assert body["checks"]["salesforce"] == {"ok": True, "configured": False,
                                            "detail": "no Salesforce settings and no dev org running"}
