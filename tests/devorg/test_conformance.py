"""The dev org holds to Salesforce's documented rules, stricter where Salesforce may vary.

Each test here is named in the conformance table of docs/devorg.md, beside the Salesforce page
that states the rule.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote

import pytest

pytestmark = pytest.mark.db_independent

API = "/services/data/v59.0"


def call(devorg, method: str, path: str, **kwargs):
    token = devorg.access_token()
    return devorg.session().request(method, f"{devorg.instance_url}{API}/{path}",
                                    headers={"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})},
                                    **kwargs)


def composite(devorg, subrequests):
    body = {"compositeRequest": [{"method": "GET", "referenceId": f"r{n}", **sub} for n, sub in enumerate(subrequests)]}
    return call(devorg, "POST", "composite", json=body)


def stamp(value: datetime) -> str:
    return quote(value.strftime("%Y-%m-%dT%H:%M:%S+00:00"))


def test_composite_refuses_a_sixth_query_operation_but_not_sobject_resources(devorg):
    now = devorg.now()
    window = f"?start={stamp(now - timedelta(hours=1))}&end={stamp(now)}"
    queries = [{"url": f"{API}/query/?q=SELECT+Id+FROM+Lead"}, {"url": f"{API}/queryAll/?q=SELECT+Id+FROM+Contact"}]
    logs = [{"url": f"{API}/sobjects/{name}/{kind}/{window}"}
            for name in ("Lead", "Contact", "Account", "Task", "Event", "Campaign", "CampaignMember", "User")
            for kind in ("updated", "deleted")]
    allowed = composite(devorg, queries * 2 + [queries[0]] + logs + [{"url": f"{API}/limits"}] * 4)
    assert allowed.status_code == 200  # 25 subrequests, 5 of them queries
    assert {r["httpStatusCode"] for r in allowed.json()["compositeResponse"]} == {200}
    refused = composite(devorg, queries * 3)
    assert refused.status_code == 400
    assert refused.json()[0]["errorCode"] == "LIMIT_EXCEEDED"
    assert "5" in refused.json()[0]["message"]
    collections = [{"url": f"{API}/composite/sobjects/Lead?ids=00Q000000000001AAA&fields=Id"}]
    assert composite(devorg, queries * 2 + collections * 2).status_code == 400  # collections count too
    assert composite(devorg, [{"url": f"{API}/limits"}] * 26).json()[0]["errorCode"] == "LIMIT_EXCEEDED"


def test_composite_counts_once_but_composite_batch_counts_every_subrequest(devorg):
    before = devorg.api_calls
    assert composite(devorg, [{"url": f"{API}/limits"}] * 10).status_code == 200
    assert devorg.api_calls - before == 1
    before = devorg.api_calls
    answer = call(devorg, "POST", "composite/batch",
                  json={"batchRequests": [{"method": "GET", "url": "v59.0/limits"}] * 10})
    assert answer.status_code == 200 and not answer.json()["hasErrors"]
    assert [r["statusCode"] for r in answer.json()["results"]] == [200] * 10
    assert devorg.api_calls - before == 10


def test_query_pages_may_be_shorter_than_the_batch_size_and_only_done_ends_them(devorg):
    for n in range(450):
        devorg.insert("Lead", LastName=f"L{n:03d}", Company="C")
    devorg.rest.rng = random.Random(12)
    sizes, names = [], []
    page = call(devorg, "GET", "query/", params={"q": "SELECT LastName FROM Lead ORDER BY LastName LIMIT 400"},
                headers={"Sforce-Query-Options": "batchSize=200"}).json()
    while True:
        sizes.append(len(page["records"]))
        names += [r["LastName"] for r in page["records"]]
        assert page["totalSize"] == 400
        if page["done"]:
            assert "nextRecordsUrl" not in page
            break
        token = devorg.access_token()
        page = devorg.session().get(devorg.instance_url + page["nextRecordsUrl"],
                                    headers={"Authorization": f"Bearer {token}"}).json()
    assert names == [f"L{n:03d}" for n in range(400)]
    assert max(sizes) <= 200 and len(sizes) > 2  # some page was short, yet more followed
    assert any(size < 200 for size in sizes[:-1])


@pytest.mark.parametrize("minutes", [-45, 45])
def test_the_org_has_its_own_clock(devorg, minutes):
    devorg.set_clock_offset(timedelta(minutes=minutes))
    host = datetime.now(UTC)
    lead = devorg.insert("Lead", LastName="時計", Company="C")
    record = devorg.get("Lead", lead)
    stamped = datetime.strptime(record["SystemModstamp"], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert abs(stamped - (host + timedelta(minutes=minutes))) < timedelta(seconds=5)
    assert record["CreatedDate"] == record["LastModifiedDate"] == record["SystemModstamp"]
    answer = call(devorg, "GET", "limits/")
    assert abs(parsedate_to_datetime(answer.headers["Date"]) - stamped) < timedelta(seconds=5)
    # The windows follow the org's clock: its current minute bounds what `updated` covers.
    start, end = host - timedelta(hours=2), host + timedelta(hours=2)
    updated = call(devorg, "GET", "sobjects/Lead/updated/", params={
        "start": start.strftime("%Y-%m-%dT%H:%M:%S+00:00"), "end": end.strftime("%Y-%m-%dT%H:%M:%S+00:00")}).json()
    assert updated["latestDateCovered"] == stamped.replace(second=0).strftime("%Y-%m-%dT%H:%M:00.000+0000")


def test_an_open_transaction_keeps_latest_date_covered_below_its_start(devorg):
    devorg.set_clock(datetime(2026, 11, 20, 10, 2, 30, tzinfo=UTC))
    tx = devorg.begin_late_commit()
    tx.insert("Lead", LastName="遅", Company="長い処理")
    devorg.set_clock(datetime(2026, 11, 20, 10, 7, 10, tzinfo=UTC))
    quick = devorg.insert("Lead", LastName="早", Company="即時")
    devorg.set_clock(datetime(2026, 11, 20, 10, 9, 5, tzinfo=UTC))
    params = {"start": "2026-11-20T10:00:00+00:00", "end": "2026-11-20T10:09:00+00:00"}
    updated = call(devorg, "GET", "sobjects/Lead/updated/", params=params).json()
    assert updated == {"ids": [quick], "latestDateCovered": "2026-11-20T10:02:00.000+0000"}
    deleted = call(devorg, "GET", "sobjects/Lead/deleted/", params=params).json()
    assert deleted["latestDateCovered"] == "2026-11-20T10:02:00.000+0000"
    assert [r["LastName"] for r in devorg.records("Lead")] == ["早"]  # not visible before it commits
    late = tx.commit()[0]
    assert devorg.get("Lead", late)["SystemModstamp"] == "2026-11-20T10:02:30.000+0000"
    updated = call(devorg, "GET", "sobjects/Lead/updated/", params=params).json()
    assert sorted(updated["ids"]) == sorted([late, quick])
    assert updated["latestDateCovered"] == "2026-11-20T10:09:00.000+0000"


def test_replication_windows_must_start_before_they_end(devorg):
    params = {"start": "2026-11-20T10:00:10+00:00", "end": "2026-11-20T10:00:50+00:00"}  # one whole minute
    devorg.set_clock(datetime(2026, 11, 20, 10, 5, tzinfo=UTC))
    answer = call(devorg, "GET", "sobjects/Lead/updated/", params=params)
    assert answer.status_code == 400 and answer.json()[0]["errorCode"] == "INVALID_REPLICATION_DATE"


def next_page(devorg, page):
    token = devorg.access_token()
    return devorg.session().get(devorg.instance_url + page["nextRecordsUrl"],
                                headers={"Authorization": f"Bearer {token}"})


def open_cursor(devorg):
    page = call(devorg, "GET", "query/", params={"q": "SELECT LastName FROM Lead"},
                headers={"Sforce-Query-Options": "batchSize=200"}).json()
    assert not page["done"]
    return page


def test_a_query_cursor_expires_after_15_minutes_without_a_page(devorg):
    for n in range(450):
        devorg.insert("Lead", LastName=f"L{n:03d}", Company="C")
    kept, idle = open_cursor(devorg), open_cursor(devorg)
    devorg.set_clock_offset(devorg.store.clock_offset + timedelta(minutes=14))
    kept = next_page(devorg, kept)
    assert kept.status_code == 200  # 14 minutes idle: still open, and the page resets its clock
    devorg.set_clock_offset(devorg.store.clock_offset + timedelta(minutes=14))
    assert next_page(devorg, kept.json()).status_code == 200
    expired = next_page(devorg, idle)  # 28 minutes idle
    assert expired.status_code == 400
    assert expired.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_a_user_keeps_only_ten_query_cursors_and_an_eleventh_releases_the_oldest(devorg):
    for n in range(450):
        devorg.insert("Lead", LastName=f"L{n:03d}", Company="C")
    cursors = [open_cursor(devorg) for _ in range(11)]
    released = next_page(devorg, cursors[0])
    assert released.status_code == 400
    assert released.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"
    assert all(next_page(devorg, page).status_code == 200 for page in cursors[1:])


def test_offset_over_2000_is_number_outside_valid_range(devorg):
    ok = call(devorg, "GET", "query/", params={"q": "SELECT Id FROM Lead LIMIT 10 OFFSET 2000"})
    assert ok.status_code == 200
    refused = call(devorg, "GET", "query/", params={"q": "SELECT Id FROM Lead LIMIT 10 OFFSET 2001"})
    assert refused.status_code == 400
    assert refused.json()[0]["errorCode"] == "NUMBER_OUTSIDE_VALID_RANGE"


def test_a_uri_over_16384_bytes_is_414_and_uri_with_headers_over_it_is_431(devorg):
    def query_of_length(n):
        base = f"{devorg.instance_url}{API}/query/?q="
        path_len = len(f"{API}/query/?q=")
        soql = "SELECT+Id+FROM+Lead+WHERE+LastName+!%3D+%27"
        return base + soql + "x" * (n - path_len - len(soql) - 3) + "%27"

    token = devorg.access_token()
    auth = {"Authorization": f"Bearer {token}"}
    session = devorg.session()
    assert session.get(query_of_length(8_000), headers=auth).status_code == 200
    too_long = session.get(query_of_length(16_385), headers=auth)
    assert too_long.status_code == 414
    assert session.get(query_of_length(16_000), headers=auth).status_code == 200
    padded = session.get(query_of_length(16_000), headers={**auth, "X-Padding": "p" * 1_000})
    assert padded.status_code == 431


def test_a_soql_statement_over_100000_characters_is_refused(devorg):
    def statement(n):
        head, tail = "SELECT Id FROM Lead WHERE LastName != '", "'"
        return head + "x" * (n - len(head) - len(tail)) + tail

    ok = composite(devorg, [{"url": f"{API}/query/?q={quote(statement(100_000))}"}])
    assert ok.json()["compositeResponse"][0]["httpStatusCode"] == 200
    refused = composite(devorg, [{"url": f"{API}/query/?q={quote(statement(100_001))}"}])
    answer = refused.json()["compositeResponse"][0]
    assert answer["httpStatusCode"] == 400
    assert answer["body"][0]["errorCode"] == "QUERY_TOO_COMPLICATED"
    assert "100,000" in answer["body"][0]["message"]
