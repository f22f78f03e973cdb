"""The gateway over real HTTPS against the dev org: sign-in flows, paging, faults, limits, batches."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import load_settings
from salesforce import build_gateway
from salesforce.errors import LimitExceeded, ValidationError

pytestmark = pytest.mark.db_independent


def gateway_on(devorg, tmp_path: Path, **overrides):
    settings = load_settings(environ={"SECRET_KEY": "k"}, instance_path=tmp_path / "instance",
                             overrides={**devorg.app_settings(), **overrides})
    return build_gateway(settings, backoff_seconds=0)


def test_client_credentials_sign_in_and_read_the_org(devorg, tmp_path):
    devorg.insert("Contact", LastName="田中", Email="tanaka@example.jp")
    gateway = gateway_on(devorg, tmp_path)

    records = list(gateway.query(gateway.soql("SELECT Id, LastName FROM Contact WHERE Email = {e}",
                                              e="tanaka@example.jp")))

    assert [r["LastName"] for r in records] == ["田中"]
    assert gateway.credentials.description == "client_credentials"


def test_jwt_bearer_signs_in_to_the_dev_org(devorg, tmp_path):
    gateway = gateway_on(devorg, tmp_path, salesforce_client_secret="", salesforce_username=devorg.username,
                         salesforce_private_key_file=devorg.jwt_private_key)

    assert gateway.limits()["DailyApiRequests"]["Max"] > 0
    assert gateway.credentials.description == "jwt_bearer"


def test_password_flow_signs_in_to_the_dev_org(devorg, tmp_path):
    gateway = gateway_on(devorg, tmp_path, salesforce_username=devorg.username,
                         salesforce_password=devorg.password)

    assert gateway.limits()["DailyApiRequests"]["Max"] > 0
    assert gateway.credentials.description == "password"


def test_a_query_follows_every_page(devorg, tmp_path):
    for n in range(450):
        devorg.insert("Lead", LastName=f"見込{n:03d}", Company="生協")
    gateway = gateway_on(devorg, tmp_path)
    gateway.limits()
    before = gateway.usage.calls

    names = [r["LastName"] for r in gateway.query("SELECT LastName FROM Lead ORDER BY LastName", batch_size=200)]

    assert names == [f"見込{n:03d}" for n in range(450)]
    # One call per page: 3 pages of 200 at best; the dev org serves random shorter pages in tests.
    assert gateway.usage.calls - before >= 3


def test_an_injected_503_is_retried_and_counted(devorg, tmp_path):
    gateway = gateway_on(devorg, tmp_path)
    gateway.limits()
    devorg.inject_fault(r"/query", "503", count=2)
    before = gateway.usage.calls

    assert list(gateway.query("SELECT Id FROM Contact")) == []
    assert gateway.usage.calls - before == 3


def test_an_expired_token_is_renewed_exactly_once(devorg, tmp_path):
    gateway = gateway_on(devorg, tmp_path)
    gateway.limits()
    devorg.expire_tokens()

    gateway.limits()

    assert gateway.usage.auth_calls == 2  # the first sign-in and one renewal


def test_sforce_limit_info_reports_the_orgs_usage(devorg, tmp_path):
    gateway = gateway_on(devorg, tmp_path)
    gateway.limits()

    assert gateway.usage.api_used == devorg.api_calls
    assert gateway.usage.api_max == devorg.limits()["DailyApiRequests"]["Max"]


def test_a_spent_daily_budget_pauses_the_gateway(devorg, tmp_path):
    gateway = gateway_on(devorg, tmp_path)
    gateway.limits()
    maximum = devorg.limits()["DailyApiRequests"]["Max"]
    devorg.set_api_limit(maximum=devorg.api_calls, used=devorg.api_calls)
    try:
        with pytest.raises(LimitExceeded):
            gateway.limits()
        assert gateway.paused_until is not None
    finally:
        devorg.set_api_limit(maximum=maximum)  # the session's dev org outlives this test


def test_450_contacts_are_created_in_3_calls_with_per_record_errors(devorg, tmp_path):
    gateway = gateway_on(devorg, tmp_path)
    gateway.limits()
    before = gateway.usage.calls
    records = [{"LastName": f"山田{n}"} for n in range(449)] + [{"FirstName": "名前だけ"}]

    results = gateway.create_many("Contact", records)

    assert gateway.usage.calls - before == 3
    assert sum(r.success for r in results) == 449
    assert results[-1].error_code == "REQUIRED_FIELD_MISSING"
    assert len(devorg.records("Contact")) == 449


def test_a_malformed_query_is_a_validation_error_and_not_retried(devorg, tmp_path):
    gateway = gateway_on(devorg, tmp_path)
    gateway.limits()
    before = gateway.usage.calls

    with pytest.raises(ValidationError) as caught:
        list(gateway.query("SELECT Nope__c FROM Contact"))
    assert caught.value.error_code == "INVALID_FIELD"
    assert gateway.usage.calls - before == 1


def test_a_read_back_by_many_ids_is_split_so_no_uri_exceeds_salesforces_limit(devorg, tmp_path):
    from salesforce.gateway import MAX_URI_AND_HEADERS

    wanted = [devorg.insert("Lead", LastName=f"見込{n:03d}", Company="生協") for n in range(700)]
    gateway = gateway_on(devorg, tmp_path)
    fields = "SELECT Id, LastName, Company, Email, Phone, Status, SystemModstamp FROM Lead"
    one_query = fields + gateway.soql(" WHERE Id IN {ids}", ids=wanted)
    with pytest.raises(ValidationError) as refused:  # in one GET it would be refused
        list(gateway.query_all(one_query))
    assert refused.value.status == 414
    sent: list[int] = []
    gateway.session.hooks["response"].append(
        lambda response, *a, **k: sent.append(len(response.request.path_url.encode())))

    records = list(gateway.query_ids(fields, wanted, include_deleted=True))

    assert sorted(r["Id"] for r in records) == sorted(wanted)
    assert len(sent) > 1 and max(sent) <= MAX_URI_AND_HEADERS
