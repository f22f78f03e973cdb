"""The gateway's retries, re-authentication, limits, call counting and batching (unit tests over `responses`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import responses

from salesforce.auth import ClientCredentialsFlow, settings_hint
from salesforce.errors import AuthError, LimitExceeded, RecordDeleted, TransientError, ValidationError

from .conftest import API, LOGIN, make_gateway, token_answer

FLOW = ClientCredentialsFlow(LOGIN, "client-id", "client-secret")

pytestmark = pytest.mark.db_independent

LIMIT_INFO = {"Sforce-Limit-Info": "api-usage=1234/100000"}


def query_url():
    return f"{API}/query/"


def page(records, next_url=None):
    body = {"done": next_url is None, "totalSize": len(records), "records": records}
    if next_url:
        body["nextRecordsUrl"] = next_url
    return body


def test_a_503_is_retried_and_the_call_then_succeeds(fake_org):
    fake_org.add(responses.GET, query_url(), status=503, json=[{"message": "busy", "errorCode": "SERVER_UNAVAILABLE"}])
    fake_org.add(responses.GET, query_url(), json=page([{"Id": "00Q1"}]))
    gateway = make_gateway()

    assert [r["Id"] for r in gateway.query("SELECT Id FROM Lead")] == ["00Q1"]
    assert gateway.usage.calls == 2


def test_a_connection_error_is_retried(fake_org):
    fake_org.add(responses.GET, query_url(), body=requests.ConnectionError("connection reset"))
    fake_org.add(responses.GET, query_url(), json=page([{"Id": "00Q1"}]))

    assert len(list(make_gateway().query("SELECT Id FROM Lead"))) == 1


def test_retries_stop_after_the_configured_number_and_raise_transient_error(fake_org):
    fake_org.add(responses.GET, query_url(), status=500, json=[{"message": "oops", "errorCode": "UNKNOWN"}])
    gateway = make_gateway(max_retries=2)

    with pytest.raises(TransientError):
        list(gateway.query("SELECT Id FROM Lead"))
    assert len(fake_org.calls) == 3


def test_a_400_is_not_retried_and_carries_salesforces_errors(fake_org):
    fake_org.add(responses.POST, f"{API}/sobjects/Lead/", status=400, json=[
        {"message": "Required fields are missing: [LastName]", "errorCode": "REQUIRED_FIELD_MISSING",
         "fields": ["LastName"]}])

    with pytest.raises(ValidationError) as caught:
        make_gateway().request("POST", "sobjects/Lead/", json={"Company": "生協"})
    assert caught.value.error_code == "REQUIRED_FIELD_MISSING"
    assert caught.value.errors[0]["fields"] == ["LastName"]
    assert len(fake_org.calls) == 1


def test_a_create_that_may_have_reached_salesforce_is_not_sent_again(fake_org):
    fake_org.add(responses.POST, f"{API}/composite/sobjects", status=503, json=[])

    with pytest.raises(TransientError) as caught:
        make_gateway().create_many("Task", [{"Subject": "電話受付"}])
    assert caught.value.maybe_committed is True
    assert len(fake_org.calls) == 1


def test_an_expired_session_signs_in_again_exactly_once(fake_org):
    expired = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    fake_org.add(responses.GET, query_url(), status=401, json=expired)
    fake_org.add(responses.GET, query_url(), json=page([{"Id": "00Q1"}]))
    token = token_answer(fake_org, "fresh-token")

    assert len(list(make_gateway().query("SELECT Id FROM Lead"))) == 1
    assert len(token.calls) == 1
    assert [c.request.headers["Authorization"] for c in fake_org.calls if "query" in c.request.url] == [
        "Bearer old-token", "Bearer fresh-token"]


def test_a_fresh_session_refused_again_is_an_auth_error_not_a_loop(fake_org):
    fake_org.add(responses.GET, query_url(), status=401,
                 json=[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
    token = token_answer(fake_org)

    with pytest.raises(AuthError) as caught:
        list(make_gateway(credentials_hint=settings_hint(FLOW)).query("SELECT Id FROM Lead"))
    assert len(token.calls) == 1
    assert len([c for c in fake_org.calls if "query" in c.request.url]) == 2
    assert str(caught.value).startswith("INVALID_SESSION_ID: ")
    assert "SALESFORCE_CLIENT_SECRET" in str(caught.value)
    assert caught.value.error_code == "INVALID_SESSION_ID"


def test_an_expired_given_token_without_a_flow_names_the_error_code_and_the_setting(fake_org):
    fake_org.add(responses.GET, query_url(), status=401,
                 json=[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])

    with pytest.raises(AuthError) as caught:
        list(make_gateway(flow=False, credentials_hint=settings_hint(None)).query("SELECT Id FROM Lead"))
    message = str(caught.value)
    assert "INVALID_SESSION_ID" in message and "SALESFORCE_ACCESS_TOKEN" in message
    assert "Session expired or invalid" in message  # Salesforce's own words, for the admin
    assert caught.value.status == 401 and caught.value.error_code == "INVALID_SESSION_ID"
    assert len(fake_org.calls) == 1  # nothing to sign in with: the call is not sent again


def test_a_failed_sign_in_after_an_expired_session_names_the_error_code_and_the_settings(fake_org):
    fake_org.add(responses.GET, query_url(), status=401,
                 json=[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
    refused = fake_org.add(responses.POST, f"{LOGIN}/services/oauth2/token", status=400,
                           json={"error": "invalid_client", "error_description": "invalid client credentials"})

    with pytest.raises(AuthError) as caught:
        list(make_gateway(credentials_hint=settings_hint(FLOW)).query("SELECT Id FROM Lead"))
    message = str(caught.value)
    assert message.startswith("INVALID_SESSION_ID: ")
    assert "invalid client credentials" in message
    assert "SALESFORCE_CLIENT_ID" in message and "SALESFORCE_CLIENT_SECRET" in message
    assert len(refused.calls) == 1  # one sign-in, never a loop
    assert len([c for c in fake_org.calls if "query" in c.request.url]) == 1


def test_a_401_without_salesforces_body_is_still_named_invalid_session_id(fake_org):
    fake_org.add(responses.GET, query_url(), status=401, body="Unauthorized", content_type="text/plain")

    with pytest.raises(AuthError) as caught:
        list(make_gateway(flow=False, credentials_hint=settings_hint(None)).query("SELECT Id FROM Lead"))
    assert str(caught.value).startswith("INVALID_SESSION_ID: ")
    assert "HTTP_401: Unauthorized" in str(caught.value)


def test_limit_exceeded_is_a_typed_error_and_pauses_further_calls(fake_org):
    fake_org.add(responses.GET, query_url(), status=403,
                 json=[{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}])
    gateway = make_gateway(limit_pause_seconds=300)

    with pytest.raises(LimitExceeded) as caught:
        list(gateway.query("SELECT Id FROM Lead"))
    assert (caught.value.resume_at - datetime.now(UTC)).total_seconds() == pytest.approx(300, abs=5)
    with pytest.raises(LimitExceeded):
        gateway.limits()
    assert len(fake_org.calls) == 1  # the paused call was never sent

    fake_org.add(responses.GET, f"{API}/limits/", json={"DailyApiRequests": {"Max": 100000, "Remaining": 5}})
    gateway.resume()
    assert gateway.limits()["DailyApiRequests"]["Remaining"] == 5


def test_every_call_is_counted_and_sforce_limit_info_is_read(fake_org):
    fake_org.add(responses.GET, query_url(), status=503, json=[], headers={"Sforce-Limit-Info": "api-usage=10/100000"})
    fake_org.add(responses.GET, query_url(), json=page([]), headers=LIMIT_INFO)
    gateway = make_gateway()
    seen = []
    gateway.usage.add_listener(seen.append)

    list(gateway.query("SELECT Id FROM Lead"))

    usage = gateway.usage.snapshot()
    assert usage["calls"] == 2
    assert (usage["api_used"], usage["api_max"]) == (1234, 100000)
    assert [(c.status, c.api_used) for c in seen] == [(503, 10), (200, 1234)]


def test_a_failing_call_listener_never_fails_the_call(fake_org):
    fake_org.add(responses.GET, f"{API}/limits/", json={}, headers=LIMIT_INFO)
    gateway = make_gateway()
    gateway.usage.add_listener(lambda _info: 1 / 0)

    assert gateway.limits() == {}


def test_query_follows_next_records_url_until_done(fake_org):
    fake_org.add(responses.GET, query_url(), json=page([{"Id": "1"}, {"Id": "2"}], "/services/data/v59.0/query/01g-2"))
    fake_org.add(responses.GET, f"{API}/query/01g-2", json=page([{"Id": "3"}]))
    gateway = make_gateway()

    ids = [r["Id"] for r in gateway.query("SELECT Id FROM Contact", batch_size=200)]

    assert ids == ["1", "2", "3"]
    assert fake_org.calls[0].request.headers["Sforce-Query-Options"] == "batchSize=200"


def test_query_all_reads_deleted_rows_through_query_all(fake_org):
    fake_org.add(responses.GET, f"{API}/queryAll/", json=page([{"Id": "1", "IsDeleted": True}]))

    assert [r["IsDeleted"] for r in make_gateway().query_all("SELECT Id, IsDeleted FROM Contact")] == [True]


def test_soql_values_are_quoted_so_they_cannot_change_the_query():
    soql = make_gateway().soql("SELECT Id FROM Contact WHERE Email = {email}", email="x' OR Name != '")
    assert soql == "SELECT Id FROM Contact WHERE Email = 'x\\' OR Name != \\''"


def test_a_deleted_record_is_record_deleted(fake_org):
    fake_org.add(responses.GET, f"{API}/sobjects/Contact/003X", status=404,
                 json=[{"message": "entity is deleted", "errorCode": "ENTITY_IS_DELETED"}])

    with pytest.raises(RecordDeleted):
        make_gateway().get("Contact", "003X")


def test_updated_and_deleted_need_timezone_aware_times(fake_org):
    fake_org.add(responses.GET, f"{API}/sobjects/Lead/updated/", json={"ids": ["00Q1"]})
    gateway = make_gateway()

    assert gateway.updated("Lead", datetime(2026, 11, 20, 10, tzinfo=UTC), datetime(2026, 11, 20, 11, tzinfo=UTC))[
        "ids"] == ["00Q1"]
    sent = parse_qs(urlparse(fake_org.calls[0].request.url).query)
    assert sent["start"] == ["2026-11-20T10:00:00+00:00"]
    with pytest.raises(ValueError):
        gateway.deleted("Lead", datetime(2026, 11, 20), datetime(2026, 11, 21))


def _collection_answer(request):
    records = json.loads(request.body)["records"]
    results = []
    for n, record in enumerate(records):
        if record.get("LastName"):
            results.append({"id": f"003{n:012d}", "success": True, "errors": []})
        else:
            results.append({"success": False, "errors": [
                {"statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [LastName]",
                 "fields": ["LastName"]}]})
    return 200, LIMIT_INFO, json.dumps(results)


def test_450_records_are_written_in_3_collection_calls_with_per_record_results(fake_org):
    fake_org.add_callback(responses.POST, f"{API}/composite/sobjects", callback=_collection_answer)
    gateway = make_gateway()
    records = [{"LastName": f"山田{n}"} for n in range(449)] + [{"FirstName": "花子"}]

    results = gateway.create_many("Contact", records)

    sizes = [len(json.loads(c.request.body)["records"]) for c in fake_org.calls]
    assert sizes == [200, 200, 50]
    assert gateway.usage.calls == 3
    assert len(results) == 450 and all(r.success for r in results[:449])
    assert results[449].success is False
    assert results[449].error_code == "REQUIRED_FIELD_MISSING"
    assert "LastName" in results[449].error_message
    assert json.loads(fake_org.calls[0].request.body)["records"][0]["attributes"] == {"type": "Contact"}


def test_upsert_many_matches_on_the_external_id_field(fake_org):
    fake_org.add(responses.PATCH, f"{API}/composite/sobjects/Contact/Tsunagi_Key__c",
                 json=[{"id": "003A", "success": True, "errors": [], "created": True}])

    results = make_gateway().upsert_many("Contact", "Tsunagi_Key__c", [{"Tsunagi_Key__c": "form:1", "LastName": "X"}])

    assert results[0].created is True and results[0].id == "003A"


def test_delete_many_sends_ids_in_the_query_string(fake_org):
    fake_org.add(responses.DELETE, f"{API}/composite/sobjects",
                 json=[{"id": "003A", "success": True, "errors": []}])

    assert make_gateway().delete_many(["003A"])[0].success
    assert parse_qs(urlparse(fake_org.calls[0].request.url).query)["ids"] == ["003A"]


def test_30_composite_subrequests_take_2_calls(fake_org):
    def answer(request):
        subs = json.loads(request.body)["compositeRequest"]
        return 200, {}, json.dumps({"compositeResponse": [
            {"body": {"Id": s["referenceId"]}, "httpStatusCode": 200, "referenceId": s["referenceId"]} for s in subs]})

    fake_org.add_callback(responses.POST, f"{API}/composite", callback=answer)
    subrequests = [{"method": "GET", "url": f"sobjects/Contact/003{n:03d}", "referenceId": f"r{n}"} for n in range(30)]

    answers = make_gateway().composite(subrequests)

    assert [len(json.loads(c.request.body)["compositeRequest"]) for c in fake_org.calls] == [25, 5]
    assert [a["referenceId"] for a in answers] == [f"r{n}" for n in range(30)]
    assert json.loads(fake_org.calls[0].request.body)["compositeRequest"][0]["url"] == (
        "/services/data/v59.0/sobjects/Contact/003000")


def test_the_token_endpoint_failing_with_503_is_retried(fake_org):
    fake_org.add(responses.POST, f"{LOGIN}/services/oauth2/token", status=503)
    token_answer(fake_org, "fresh-token")
    fake_org.add(responses.GET, f"{API}/limits/", json={})

    make_gateway(initial=None).limits()

    assert [c.request.headers.get("Authorization") for c in fake_org.calls][-1] == "Bearer fresh-token"


def test_a_create_that_never_reached_salesforce_is_retried():
    import socket

    from salesforce.auth import Credentials, Token
    from salesforce.gateway import SalesforceGateway

    with socket.socket() as sock:  # a port nobody listens on: the connection is refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gateway = SalesforceGateway(Credentials(initial=Token(f"https://127.0.0.1:{port}", "t"), flow=None),
                                max_retries=2, backoff_seconds=0, sleep=lambda _s: None, timeout=2)

    with pytest.raises(TransientError) as caught:
        gateway.create_many("Task", [{"Subject": "電話受付"}])
    assert caught.value.maybe_committed is False
    assert gateway.usage.calls == 3
