"""A refused session ends the sync cycle with a message an admin can search for (INVALID_SESSION_ID)."""

from __future__ import annotations

import html

from sync.cycle import run_cycle

from .test_cycle import time_passes as a_minute_passes  # the org's clock passes a minute: the probe asks


def token_only_app(make_app, devorg):
    """An app given only an access token (no client id/secret, key or password: no sign-in flow)."""
    return make_app(salesforce_instance_url=devorg.instance_url, salesforce_login_url=devorg.login_url,
                    salesforce_access_token=devorg.access_token(), salesforce_ca_bundle=devorg.ca_bundle,
                    salesforce_org_id=devorg.org_id, devorg_dir=str(devorg.data_dir), sync_objects=("Lead",),
                    config={"SALESFORCE_GATEWAY_OPTIONS": {"max_retries": 0, "backoff_seconds": 0.01}})


def test_an_expired_token_without_a_sign_in_flow_fails_the_cycle_naming_invalid_session_id(make_app, devorg,
                                                                                           sign_in):
    devorg.insert("Lead", LastName="山田", Company="生協")
    app = token_only_app(make_app, devorg)
    assert run_cycle(app).outcome == "ok"
    a_minute_passes(app, devorg)
    calls_before = devorg.api_calls
    devorg.expire_tokens()
    devorg.insert("Lead", LastName="佐藤", Company="生協")

    result = run_cycle(app)

    assert result.outcome == "failed"
    assert devorg.api_calls - calls_before <= 1  # the refused call is not resent in a loop
    page = html.unescape(sign_in("admin").get("/admin/sync?lang=en").get_data(as_text=True))
    assert "INVALID_SESSION_ID" in page
    assert "SALESFORCE_ACCESS_TOKEN" in page


def test_an_expired_token_with_a_sign_in_flow_is_renewed_and_the_cycle_succeeds(make_app, devorg):
    app = make_app(**devorg.app_settings(), salesforce_access_token=devorg.access_token(), sync_objects=("Lead",),
                   config={"SALESFORCE_GATEWAY_OPTIONS": {"max_retries": 0, "backoff_seconds": 0.01}})
    assert run_cycle(app).outcome == "ok"
    lead = devorg.insert("Lead", LastName="佐藤", Company="生協")
    a_minute_passes(app, devorg)
    devorg.expire_tokens()

    assert run_cycle(app).outcome == "ok"
    assert lead in app.test_cli_runner().invoke(args=["mirror", "dump", "Lead"]).output
