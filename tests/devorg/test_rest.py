"""Contract tests: simple-salesforce and plain HTTPS against the dev org's REST resources."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from devorg import ids

pytestmark = pytest.mark.db_independent


def test_client_credentials_token_opens_the_data_api(devorg):
    session = devorg.session()
    response = session.post(f"{devorg.login_url}/services/oauth2/token", data={
        "grant_type": "client_credentials", "client_id": devorg.client_id, "client_secret": devorg.client_secret})
    assert response.status_code == 200
    body = response.json()
    assert body["instance_url"] == devorg.instance_url
    assert body["token_type"] == "Bearer"
    assert body["id"].endswith(f"/id/{devorg.org_id}/{devorg.integration_user_id}")
    listed = session.get(f"{devorg.instance_url}/services/data/v59.0/sobjects/",
                         headers={"Authorization": f"Bearer {body['access_token']}"})
    assert listed.status_code == 200
    assert {"Lead", "Contact", "Task"} <= {o["name"] for o in listed.json()["sobjects"]}


def test_wrong_client_secret_is_refused_as_salesforce_does(devorg):
    response = devorg.session().post(f"{devorg.login_url}/services/oauth2/token", data={
        "grant_type": "client_credentials", "client_id": devorg.client_id, "client_secret": "nope"})
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_client", "error_description": "invalid client credentials"}


def test_https_is_verified_against_the_org_ca_even_with_requests_ca_bundle_set(devorg, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    assert devorg.salesforce().query("SELECT COUNT() FROM Lead")["totalSize"] == 0
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{devorg.instance_url}/services/data/", timeout=5)


def test_data_call_without_valid_token_is_invalid_session(devorg):
    sf = devorg.salesforce()
    devorg.expire_tokens()
    with pytest.raises(SalesforceExpiredSession) as caught:
        sf.query("SELECT Id FROM Lead")
    assert caught.value.content[0]["errorCode"] == "INVALID_SESSION_ID"


def test_version_list_and_resources(devorg):
    session = devorg.session()
    versions = session.get(f"{devorg.instance_url}/services/data/").json()
    assert {"label", "url", "version"} <= set(versions[0])
    assert "59.0" in {v["version"] for v in versions}
    resources = devorg.salesforce().restful("")
    assert resources["query"] == "/services/data/v59.0/query"


def test_create_read_update_delete_round_trip(devorg):
    sf = devorg.salesforce()
    created = sf.Contact.create({"LastName": "山田", "FirstName": "太郎", "Email": "taro@example.jp"})
    assert created["success"] is True and created["errors"] == []
    contact_id = created["id"]
    assert len(contact_id) == 18 and contact_id.startswith("003") and ids.is_valid(contact_id)
    fetched = sf.Contact.get(contact_id)
    assert fetched["Name"] == "山田 太郎"
    assert fetched["attributes"] == {"type": "Contact", "url": f"/services/data/v59.0/sobjects/Contact/{contact_id}"}
    assert fetched["OwnerId"] == devorg.integration_user_id
    assert sf.Contact.update(contact_id, {"Absent__c": True}) == 204
    assert devorg.get("Contact", contact_id)["Absent__c"] is True
    assert sf.Contact.delete(contact_id) == 204
    assert devorg.records("Contact") == []
    assert devorg.records("Contact", include_deleted=True)[0]["IsDeleted"] is True
    with pytest.raises(SalesforceResourceNotFound) as caught:
        sf.Contact.get(contact_id)
    assert caught.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"


def test_system_modstamp_is_stored_in_whole_seconds_and_moves_on_update(devorg):
    # Salesforce renders milliseconds but stores datetimes in whole seconds: many records share a stamp.
    devorg.set_clock(datetime(2026, 11, 20, 10, 0, 0, 123000, tzinfo=UTC))
    lead_id = devorg.insert("Lead", LastName="佐藤", Company="生協")
    other_id = devorg.insert("Lead", LastName="鈴木", Company="生協")
    assert devorg.get("Lead", lead_id)["SystemModstamp"] == "2026-11-20T10:00:00.000+0000"
    same = devorg.salesforce().query(
        "SELECT Id FROM Lead WHERE SystemModstamp = 2026-11-20T10:00:00Z ORDER BY Id")["records"]
    assert [r["Id"] for r in same] == sorted([lead_id, other_id])
    devorg.set_clock(datetime(2026, 11, 20, 10, 5, tzinfo=UTC))
    devorg.update("Lead", lead_id, Score__c=10)
    record = devorg.get("Lead", lead_id)
    assert record["SystemModstamp"] == "2026-11-20T10:05:00.000+0000"
    assert record["CreatedDate"] == "2026-11-20T10:00:00.000+0000"
    assert record["LastModifiedById"] == devorg.person_user_id


def test_query_pages_follow_next_records_url_with_batch_size(devorg):
    for number in range(450):
        devorg.insert("Lead", LastName=f"L{number:03d}", Company="C")
    sf = devorg.salesforce()
    devorg.set_short_pages(False)
    first = sf.query("SELECT Id, LastName FROM Lead ORDER BY LastName",
                     headers={"Sforce-Query-Options": "batchSize=200"})
    assert first["totalSize"] == 450 and first["done"] is False and len(first["records"]) == 200
    devorg.set_short_pages(True)
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    rows = list(sf.query_all_iter("SELECT Id, LastName FROM Lead ORDER BY LastName",
                                  headers={"Sforce-Query-Options": "batchSize=200"}))
    assert [r["LastName"] for r in rows] == [f"L{n:03d}" for n in range(450)]


def test_default_page_is_two_thousand_records(devorg):
    for number in range(2001):
        devorg.insert("Contact", LastName=f"C{number}")
    sf = devorg.salesforce()
    devorg.set_short_pages(False)
    first = sf.query("SELECT Id FROM Contact")
    assert len(first["records"]) == 2000 and first["done"] is False
    rest = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert len(rest["records"]) == 1 and rest["done"] is True and "nextRecordsUrl" not in rest


def test_every_response_carries_limit_info_and_counts_calls(devorg):
    token = devorg.access_token()
    response = devorg.session().get(f"{devorg.instance_url}/services/data/v59.0/limits/",
                                    headers={"Authorization": f"Bearer {token}"})
    assert response.headers["Sforce-Limit-Info"] == "api-usage=1/100000"
    assert response.json()["DailyApiRequests"] == {"Max": 100000, "Remaining": 99999}
    devorg.insert("Lead", LastName="x", Company="y")
    assert devorg.api_calls == 1


def test_composite_sobjects_all_or_none_rolls_everything_back(devorg):
    sf = devorg.salesforce()
    results = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": [
        {"attributes": {"type": "Contact"}, "LastName": "ok"},
        {"attributes": {"type": "Contact"}, "FirstName": "no last name"},
    ]})
    assert [r["success"] for r in results] == [False, False]
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert devorg.records("Contact") == []
    assert devorg.api_calls == 1


def test_composite_sobjects_partial_success_keeps_good_records(devorg):
    sf = devorg.salesforce()
    results = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": [
        {"attributes": {"type": "Contact"}, "LastName": "ok"},
        {"attributes": {"type": "Contact"}, "LastName": "bad", "Email": "not-an-email"},
    ]})
    assert results[0]["success"] is True
    assert results[1]["errors"][0]["statusCode"] == "INVALID_EMAIL_ADDRESS"
    assert [c["LastName"] for c in devorg.records("Contact")] == ["ok"]
    updated = sf.restful("composite/sobjects", method="PATCH", json={"records": [
        {"attributes": {"type": "Contact"}, "Id": results[0]["id"], "Score__c": 42}]})
    assert updated == [{"id": results[0]["id"], "success": True, "errors": []}]
    assert devorg.records("Contact")[0]["Score__c"] == 42


def _composite(devorg, *subrequests: dict) -> dict:
    """The answer to one all-or-none composite request of `subrequests`."""
    return devorg.salesforce().restful("composite", method="POST",
                                       json={"allOrNone": True, "compositeRequest": list(subrequests)})


def _create(object_name: str, reference: str, fields: dict) -> dict:
    """A composite subrequest creating an `object_name` record with `fields`."""
    return {"method": "POST", "url": f"/services/data/v59.0/sobjects/{object_name}", "referenceId": reference,
            "body": fields}


def test_composite_references_earlier_subrequests_and_counts_once(devorg):
    body = _composite(
        devorg,
        _create("Account", "acct", {"Name": "つなぎ生協"}),
        _create("Contact", "person", {"LastName": "鈴木", "AccountId": "@{acct.id}"}),
        {"method": "GET", "url": "/services/data/v59.0/sobjects/Contact/@{person.id}?fields=AccountId",
         "referenceId": "check"},
    )
    statuses = [r["httpStatusCode"] for r in body["compositeResponse"]]
    assert statuses == [201, 201, 200]
    account_id = body["compositeResponse"][0]["body"]["id"]
    assert body["compositeResponse"][2]["body"]["AccountId"] == account_id
    assert devorg.api_calls == 1


def test_composite_all_or_none_failure_halts_the_others(devorg):
    body = _composite(devorg, _create("Account", "acct", {"Name": "残らない"}),
                      _create("Contact", "bad", {"FirstName": "姓なし"}))
    first, second = body["compositeResponse"]
    assert first["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert second["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert devorg.records("Account") == []


def test_updated_and_deleted_report_changes_in_whole_minutes_up_to_now(devorg):
    devorg.set_clock(datetime(2026, 11, 20, 10, 0, 30, tzinfo=UTC))
    kept = devorg.insert("Contact", LastName="残る")
    gone = devorg.insert("Contact", LastName="消える")
    devorg.delete("Contact", gone)
    devorg.set_clock(datetime(2026, 11, 20, 10, 1, 59, tzinfo=UTC))
    late = devorg.insert("Contact", LastName="この分はまだ")
    sf = devorg.salesforce()
    start, end = datetime(2026, 11, 20, 9, 55, tzinfo=UTC), datetime(2026, 11, 20, 10, 30, tzinfo=UTC)
    updated = sf.Contact.updated(start, end)
    assert updated == {"ids": [kept], "latestDateCovered": "2026-11-20T10:01:00.000+0000"}
    assert late not in updated["ids"]
    deleted = sf.Contact.deleted(start, end)
    assert deleted["deletedRecords"] == [{"id": gone, "deletedDate": "2026-11-20T10:00:30.000+0000"}]
    assert deleted["latestDateCovered"] == "2026-11-20T10:01:00.000+0000"
    assert "earliestDateAvailable" in deleted


@pytest.mark.parametrize(("kind", "exception", "code"), [
    ("503", SalesforceGeneralError, None),
    ("invalid_session", SalesforceExpiredSession, "INVALID_SESSION_ID"),
    ("limit_exceeded", SalesforceRefusedRequest, "REQUEST_LIMIT_EXCEEDED"),
])
def test_injected_fault_surfaces_as_the_simple_salesforce_exception(devorg, kind, exception, code):
    sf = devorg.salesforce()
    devorg.inject_fault(r"/query", kind, count=1)
    with pytest.raises(exception) as caught:
        sf.query("SELECT Id FROM Lead")
    if code:
        assert caught.value.content[0]["errorCode"] == code
    assert sf.query("SELECT Id FROM Lead")["totalSize"] == 0


def test_spent_daily_budget_is_request_limit_exceeded(devorg):
    sf = devorg.salesforce()
    devorg.set_api_limit(5, used=5)
    with pytest.raises(SalesforceRefusedRequest) as caught:
        sf.query("SELECT Id FROM Lead")
    assert caught.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


def test_unknown_field_in_query_is_invalid_field(devorg):
    with pytest.raises(SalesforceMalformedRequest) as caught:
        devorg.salesforce().query("SELECT Id, Nope__c FROM Lead")
    assert caught.value.content[0]["errorCode"] == "INVALID_FIELD"
    assert "Nope__c" in caught.value.content[0]["message"]


def test_emptied_recycle_bin_shows_as_a_later_earliest_date_available(devorg):
    devorg.set_clock(datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    gone = devorg.insert("Contact", LastName="消える")
    devorg.delete("Contact", gone)
    devorg.set_clock(datetime(2026, 11, 20, 11, 0, tzinfo=UTC))
    assert devorg.empty_recycle_bin() == 1
    devorg.set_clock(datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    sf = devorg.salesforce()
    deleted = sf.Contact.deleted(datetime(2026, 11, 20, 9, 0, tzinfo=UTC), datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    assert deleted["deletedRecords"] == []
    assert deleted["earliestDateAvailable"] == "2026-11-20T11:00:00.000+0000"
    assert sf.query_all("SELECT Id FROM Contact", include_deleted=True)["totalSize"] == 0


def test_deleted_records_leave_the_recycle_bin_after_15_days(devorg):
    devorg.set_clock(datetime(2026, 11, 1, tzinfo=UTC))
    gone = devorg.insert("Contact", LastName="古い")
    devorg.delete("Contact", gone)
    devorg.set_clock(datetime(2026, 11, 10, tzinfo=UTC))
    sf = devorg.salesforce()
    assert sf.query_all("SELECT Id FROM Contact", include_deleted=True)["totalSize"] == 1
    devorg.set_clock(datetime(2026, 11, 17, tzinfo=UTC))
    assert sf.query_all("SELECT Id FROM Contact", include_deleted=True)["totalSize"] == 0
