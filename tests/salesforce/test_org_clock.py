"""The org's time from its Date headers, and composite calls cut to Salesforce's limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import responses

from salesforce.orgclock import OrgClock

from .conftest import API, make_gateway

pytestmark = pytest.mark.db_independent


def test_the_org_clock_follows_the_date_header_and_only_a_stopwatch_of_the_host():
    ticks = [1000.0]
    clock = OrgClock(monotonic=lambda: ticks[0])
    assert clock.now() is None
    clock.observe("Fri, 20 Nov 2026 10:00:00 GMT")  # the org's time, whatever the host's wall clock says
    ticks[0] += 75.5
    assert clock.now() == datetime(2026, 11, 20, 10, 1, 15, 500000, tzinfo=UTC)
    clock.observe("not a date")  # ignored
    assert clock.now() == datetime(2026, 11, 20, 10, 1, 15, 500000, tzinfo=UTC)


def test_org_now_comes_from_the_answers_and_asks_limits_once_when_none_was_seen(fake_org):
    limits = fake_org.add(responses.GET, f"{API}/limits/", json={"DailyApiRequests": {"Max": 1, "Remaining": 1}},
                          headers={"Date": "Fri, 20 Nov 2026 09:15:00 GMT"})
    gateway = make_gateway()
    first = gateway.org_now()
    assert timedelta(0) <= first - datetime(2026, 11, 20, 9, 15, tzinfo=UTC) < timedelta(seconds=5)
    gateway.org_now()
    assert limits.call_count == 1


def test_composite_calls_hold_at_most_five_queries_and_twenty_five_subrequests(fake_org):
    sent = []

    def answer(request):
        subrequests = json.loads(request.body)["compositeRequest"]
        sent.append([s["referenceId"] for s in subrequests])
        return 200, {}, json.dumps({"compositeResponse": [
            {"body": {}, "httpHeaders": {}, "httpStatusCode": 200, "referenceId": s["referenceId"]}
            for s in subrequests]})

    fake_org.add_callback(responses.POST, f"{API}/composite", callback=answer)
    logs = [{"method": "GET", "url": f"sobjects/Obj{n}__c/updated/?start=a&end=b", "referenceId": f"u{n}"}
            for n in range(20)]
    queries = [{"method": "GET", "url": f"queryAll/?q=SELECT+Id+FROM+Obj{n}__c", "referenceId": f"q{n}"}
               for n in range(12)]
    more = [{"method": "GET", "url": "/services/data/v59.0/query/01gABC-200", "referenceId": "more"}]
    answers = make_gateway().composite(logs + queries + more)
    assert [a["referenceId"] for a in answers] == [s["referenceId"] for s in logs + queries + more]
    assert all(len(call) <= 25 for call in sent)
    assert [sum(ref.startswith(("q", "more")) for ref in call) for call in sent] == [5, 5, 3]
    assert sent[0] == [f"u{n}" for n in range(20)] + [f"q{n}" for n in range(5)]
