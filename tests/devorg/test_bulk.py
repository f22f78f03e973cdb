"""Contract tests: Bulk API 2.0 query jobs of the dev org over real HTTPS, shaped as Salesforce documents them."""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import date

import pytest

pytestmark = pytest.mark.db_independent

TRICKY = '山田, "太郎"\n二行目'


@pytest.fixture
def api(devorg):
    """(session, base URL of jobs/query, headers) for plain HTTPS calls."""
    headers = {"Authorization": f"Bearer {devorg.access_token()}"}
    return devorg.session(), f"{devorg.instance_url}/services/data/v59.0/jobs/query", headers


def create(api, query: str, operation: str = "query", **options):
    session, base, headers = api
    return session.post(base, json={"operation": operation, "query": query, **options}, headers=headers)


def wait_complete(api, job_id: str, timeout: float = 10.0) -> dict:
    session, base, headers = api
    deadline = time.monotonic() + timeout
    while True:
        info = session.get(f"{base}/{job_id}", headers=headers).json()
        if info["state"] in ("JobComplete", "Failed", "Aborted") or time.monotonic() > deadline:
            return info
        time.sleep(0.1)


def results(api, job_id: str, **params):
    session, base, headers = api
    return session.get(f"{base}/{job_id}/results", params=params, headers=headers)


def rows(text: str, delimiter: str = ",") -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def test_a_query_job_is_created_completes_and_answers_csv(devorg, api):
    account = devorg.insert("Account", Name="株式会社サンプル", NumberOfEmployees=42, AnnualRevenue=1500000)
    contact = devorg.insert("Contact", LastName=TRICKY, AccountId=account, HasOptedOutOfEmail=True,
                            Birthdate=date(1990, 4, 1), Score__c=12.5)
    lonely = devorg.insert("Contact", LastName="鈴木")
    created = create(api, "SELECT Id, LastName, HasOptedOutOfEmail, Birthdate, Score__c, SystemModstamp, "
                          "Account.Name FROM Contact")
    assert created.status_code == 200
    job = created.json()
    assert re.fullmatch(r"750[A-Za-z0-9]{15}", job["id"])
    assert job["state"] == "UploadComplete"
    assert {k: job[k] for k in ("operation", "object", "createdById", "concurrencyMode", "contentType",
                                "apiVersion", "lineEnding", "columnDelimiter")} == {
        "operation": "query", "object": "Contact", "createdById": devorg.integration_user_id,
        "concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": 59.0, "lineEnding": "LF",
        "columnDelimiter": "COMMA"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000\+0000", job["createdDate"])
    info = wait_complete(api, job["id"])
    assert info["state"] == "JobComplete"
    assert info["numberRecordsProcessed"] == 2 and info["retries"] == 0 and info["jobType"] == "V2Query"
    assert isinstance(info["totalProcessingTime"], int)

    answer = results(api, job["id"])
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/csv")
    assert answer.headers["Sforce-Locator"] == "null"
    assert answer.headers["Sforce-NumberOfRecords"] == "2"
    table = rows(answer.text)
    assert table[0] == ["Id", "LastName", "HasOptedOutOfEmail", "Birthdate", "Score__c", "SystemModstamp",
                        "Account.Name"]
    stamp = devorg.get("Contact", contact)["SystemModstamp"]
    assert table[1:] == [
        [contact, TRICKY, "true", "1990-04-01", "12.5", stamp, "株式会社サンプル"],
        [lonely, "鈴木", "false", "", "", devorg.get("Contact", lonely)["SystemModstamp"], ""],
    ]
    assert '"' + TRICKY.replace('"', '""') + '"' in answer.text  # RFC 4180: quotes doubled, newline kept
    assert f'"{lonely}","鈴木","false",,,' in answer.text  # null is empty, not quoted


def test_results_come_in_sets_linked_by_sforce_locator(devorg, api):
    ids = [devorg.insert("Lead", LastName=f"顧客{n:02d}", Company="生協") for n in range(25)]
    job = create(api, "SELECT Id FROM Lead").json()
    assert wait_complete(api, job["id"])["state"] == "JobComplete"
    seen, locator, used, sets = [], None, None, 0
    while True:
        used = locator
        params = {"maxRecords": 10, **({"locator": locator} if locator else {})}
        answer = results(api, job["id"], **params)
        body = rows(answer.text)
        assert body[0] == ["Id"]
        assert answer.headers["Sforce-NumberOfRecords"] == str(len(body) - 1)
        seen += [r[0] for r in body[1:]]
        sets += 1
        locator = answer.headers["Sforce-Locator"]
        if locator == "null":
            break
    assert sets == 3 and sorted(seen) == sorted(ids)
    again = results(api, job["id"], maxRecords=10, locator=used)
    assert rows(again.text)[1:] == body[1:]  # a locator can be read again while the job exists


def test_query_all_includes_deleted_records_and_options_change_the_csv(devorg, api):
    live = devorg.insert("Lead", LastName="生存", Company="A")
    gone = devorg.insert("Lead", LastName="削除", Company="B")
    devorg.delete("Lead", gone)
    plain = create(api, "SELECT Id FROM Lead").json()
    every = create(api, "SELECT Id, IsDeleted FROM Lead", "queryAll", columnDelimiter="PIPE",
                   lineEnding="CRLF").json()
    assert (every["columnDelimiter"], every["lineEnding"]) == ("PIPE", "CRLF")
    wait_complete(api, plain["id"]), wait_complete(api, every["id"])
    assert [r[0] for r in rows(results(api, plain["id"]).text)[1:]] == [live]
    text = results(api, every["id"]).text
    assert "\r\n" in text and "|" in text
    assert sorted(rows(text, "|")[1:]) == sorted([[live, "false"], [gone, "true"]])


def test_a_slow_job_goes_in_progress_then_complete(devorg, api):
    devorg.insert("Lead", LastName="佐藤", Company="生協")
    devorg.set_bulk_api(delay_seconds=0.5)
    job = create(api, "SELECT Id FROM Lead").json()
    session, base, headers = api
    assert session.get(f"{base}/{job['id']}", headers=headers).json()["state"] == "InProgress"
    early = results(api, job["id"])
    assert early.status_code == 400 and early.json()[0]["errorCode"] == "INVALIDJOB"
    assert wait_complete(api, job["id"])["state"] == "JobComplete"


def test_abort_and_delete_as_documented(devorg, api):
    devorg.set_bulk_api(delay_seconds=30)
    session, base, headers = api
    job = create(api, "SELECT Id FROM Lead").json()
    aborted = session.patch(f"{base}/{job['id']}", json={"state": "Aborted"}, headers=headers)
    assert aborted.status_code == 200 and aborted.json()["state"] == "Aborted"
    assert session.delete(f"{base}/{job['id']}", headers=headers).status_code == 204
    assert session.get(f"{base}/{job['id']}", headers=headers).status_code == 404


@pytest.mark.parametrize(("query", "code"), [
    ("SELECT COUNT() FROM Lead", "API_ERROR"),
    ("SELECT Id FROM Lead LIMIT 10 OFFSET 5", "API_ERROR"),
    ("SELECT Id, (SELECT Id FROM Contacts) FROM Account", "MALFORMED_QUERY"),
    ("SELECT Id FROM Lead GROUP BY Id", "MALFORMED_QUERY"),
    ("SELECT Nope__c FROM Lead", "INVALID_FIELD"),
    ("SELEC Id FROM Lead", "MALFORMED_QUERY"),
])
def test_queries_bulk_api_does_not_support_are_refused_with_a_400(api, query, code):
    answer = create(api, query)
    assert answer.status_code == 400
    assert answer.json()[0]["errorCode"] == code


def test_unknown_job_is_404_and_a_bad_operation_400(api):
    session, base, headers = api
    missing = session.get(f"{base}/7505g0000000001AAA", headers=headers)
    assert missing.status_code == 404 and missing.json()[0]["errorCode"] == "NOT_FOUND"
    assert create(api, "SELECT Id FROM Lead", operation="upsert").status_code == 400


def test_an_org_without_bulk_api_answers_404(devorg, api):
    devorg.set_bulk_api(enabled=False)
    answer = create(api, "SELECT Id FROM Lead")
    assert answer.status_code == 404 and answer.json()[0]["errorCode"] == "NOT_FOUND"


def test_a_failed_job_reports_its_error_message(devorg, api):
    devorg.set_bulk_api(fail_with="InternalServerError")
    job = create(api, "SELECT Id FROM Lead").json()
    info = wait_complete(api, job["id"])
    assert (info["state"], info["errorMessage"]) == ("Failed", "InternalServerError")


def test_every_request_counts_against_the_budget_and_meets_injected_faults(devorg, api):
    devorg.insert("Lead", LastName="佐藤", Company="生協")
    before = devorg.api_calls
    job = create(api, "SELECT Id FROM Lead").json()
    wait_complete(api, job["id"])
    devorg.inject_fault(r"/jobs/query/.*/results", "503")
    assert results(api, job["id"]).status_code == 503
    answer = results(api, job["id"])
    assert answer.status_code == 200 and "Sforce-Limit-Info" in answer.headers
    assert devorg.api_calls - before == 3  # create, poll, results (the injected 503 is not counted)
    devorg.set_api_limit(devorg.api_calls)
    refused = results(api, job["id"])
    assert refused.status_code == 403 and refused.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
