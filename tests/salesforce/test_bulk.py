"""The gateway's Bulk API 2.0 query jobs: create, poll, read result sets by locator (unit tests over `responses`)."""

from __future__ import annotations

import json

import pytest
import responses
from responses import matchers

from salesforce.errors import BulkJobFailed, BulkNotSupported, ValidationError

from .conftest import API, make_gateway, token_answer

pytestmark = pytest.mark.db_independent

JOB = "7505g000000AbCdAAA"
JOBS = f"{API}/jobs/query"


def job_info(state: str, **extra) -> dict:
    return {"id": JOB, "operation": "queryAll", "object": "Lead", "state": state, "columnDelimiter": "COMMA",
            "lineEnding": "LF", "contentType": "CSV", "apiVersion": 59.0, **extra}


def result_set(mock, body: str, locator: str, expect_locator: str | None = None) -> None:
    params = {"maxRecords": "50000", **({"locator": expect_locator} if expect_locator else {})}
    mock.add(responses.GET, f"{JOBS}/{JOB}/results", body=body.encode(), content_type="text/csv; charset=UTF-8",
             headers={"Sforce-Locator": locator, "Sforce-NumberOfRecords": str(body.count("\n") - 1)},
             match=[matchers.query_param_matcher(params)])


def test_a_job_is_created_polled_until_complete_and_read_set_by_set(fake_org):
    fake_org.add(responses.POST, JOBS, json=job_info("UploadComplete"))
    fake_org.add(responses.GET, f"{JOBS}/{JOB}", json=job_info("InProgress"))
    fake_org.add(responses.GET, f"{JOBS}/{JOB}", json=job_info("JobComplete", numberRecordsProcessed=3))
    result_set(fake_org, '"Id","Company","IsDeleted","Score__c"\n'
                         '"00Q1","山田, ""本店""\n二行目","false","1.5"\n"00Q2","鈴木","true",\n', "MTAwMDA")
    result_set(fake_org, '"Id","Company","IsDeleted","Score__c"\n"00Q3","",false,"7"\n', "null",
               expect_locator="MTAwMDA")
    gateway = make_gateway()
    waits = []

    records = list(gateway.bulk_query("SELECT Id, Company, IsDeleted, Score__c FROM Lead", include_deleted=True,
                                      on_wait=waits.append))

    assert records == [
        {"Id": "00Q1", "Company": '山田, "本店"\n二行目', "IsDeleted": "false", "Score__c": "1.5"},
        {"Id": "00Q2", "Company": "鈴木", "IsDeleted": "true", "Score__c": ""},
        {"Id": "00Q3", "Company": "", "IsDeleted": "false", "Score__c": "7"},
    ]
    created = json.loads(fake_org.calls[0].request.body)
    assert created == {"operation": "queryAll", "query": "SELECT Id, Company, IsDeleted, Score__c FROM Lead",
                       "contentType": "CSV", "columnDelimiter": "COMMA", "lineEnding": "LF"}
    assert [w["state"] for w in waits] == ["InProgress"]
    assert gateway.usage.calls == 5  # create, two polls, two result sets: each one API call


def test_nothing_is_sent_before_the_first_record_is_asked_for(fake_org):
    make_gateway().bulk_query("SELECT Id FROM Lead")
    assert len(fake_org.calls) == 0


@pytest.mark.parametrize(("status", "code"), [
    (404, "NOT_FOUND"), (400, "API_DISABLED_FOR_ORG"), (400, "FEATURENOTENABLED"), (403, "API_DISABLED_FOR_ORG"),
    (400, "INVALIDENTITY"),
])
def test_an_org_without_bulk_api_is_a_typed_error(fake_org, status, code):
    fake_org.add(responses.POST, JOBS, status=status, json=[{"message": "not here", "errorCode": code}])

    with pytest.raises(BulkNotSupported) as caught:
        list(make_gateway().bulk_query("SELECT Id FROM Lead"))
    assert caught.value.error_code == code
    assert len(fake_org.calls) == 1


def test_a_malformed_query_stays_a_validation_error(fake_org):
    fake_org.add(responses.POST, JOBS, status=400,
                 json=[{"message": "unexpected token", "errorCode": "MALFORMED_QUERY"}])

    with pytest.raises(ValidationError) as caught:
        list(make_gateway().bulk_query("SELEC Id FROM Lead"))
    assert not isinstance(caught.value, BulkNotSupported)


def test_a_failed_job_raises_with_salesforces_message_and_is_not_aborted(fake_org):
    fake_org.add(responses.POST, JOBS, json=job_info("UploadComplete"))
    fake_org.add(responses.GET, f"{JOBS}/{JOB}", json=job_info("Failed", errorMessage="InternalServerError"))

    with pytest.raises(BulkJobFailed, match="InternalServerError") as caught:
        list(make_gateway().bulk_query("SELECT Id FROM Lead"))
    assert (caught.value.job_id, caught.value.state) == (JOB, "Failed")
    assert [c.request.method for c in fake_org.calls] == ["POST", "GET"]


def test_a_job_that_never_finishes_is_aborted_after_the_timeout(fake_org):
    fake_org.add(responses.POST, JOBS, json=job_info("UploadComplete"))
    fake_org.add(responses.GET, f"{JOBS}/{JOB}", json=job_info("InProgress"))
    abort = fake_org.add(responses.PATCH, f"{JOBS}/{JOB}", json=job_info("Aborted"),
                         match=[matchers.json_params_matcher({"state": "Aborted"})])

    with pytest.raises(BulkJobFailed, match="did not finish") as caught:
        list(make_gateway().bulk_query("SELECT Id FROM Lead", timeout_seconds=10))
    assert caught.value.state == "Timeout"
    assert len(abort.calls) == 1
    polls = [c for c in fake_org.calls if c.request.method == "GET"]
    assert len(polls) == 4  # pauses of 1, 2 and 4 s fit in 10 s; the next (8 s) would not


def test_whatever_stops_the_wait_aborts_the_job(fake_org):
    class Stop(Exception):
        pass

    fake_org.add(responses.POST, JOBS, json=job_info("UploadComplete"))
    fake_org.add(responses.GET, f"{JOBS}/{JOB}", json=job_info("InProgress"))
    abort = fake_org.add(responses.PATCH, f"{JOBS}/{JOB}", json=job_info("Aborted"))

    def stop(_info):
        raise Stop

    with pytest.raises(Stop):
        list(make_gateway().bulk_query("SELECT Id FROM Lead", on_wait=stop))
    assert len(abort.calls) == 1


def test_result_sets_are_retried_and_re_authenticated_like_every_call(fake_org):
    fake_org.add(responses.POST, JOBS, json=job_info("UploadComplete"))
    fake_org.add(responses.GET, f"{JOBS}/{JOB}", status=401,
                 json=[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
    fake_org.add(responses.GET, f"{JOBS}/{JOB}", json=job_info("JobComplete"))
    fake_org.add(responses.GET, f"{JOBS}/{JOB}/results", status=503, json=[{"errorCode": "SERVER_UNAVAILABLE"}])
    result_set(fake_org, '"Id"\n"00Q1"\n', "null")
    token = token_answer(fake_org)

    assert list(make_gateway().bulk_query("SELECT Id FROM Lead")) == [{"Id": "00Q1"}]
    assert len(token.calls) == 1
