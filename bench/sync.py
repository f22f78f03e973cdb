"""Benchmark of sync: API calls per cycle, mirror upsert speed, Outbound Message → change event latency.

    .venv/bin/python -m bench.sync [--quick] [--postgresql URL]

Prints one JSON line:
- calls_per_10k_changed: API calls of one cycle after 10,000 records changed in the dev org
- calls_per_idle_cycle: API calls of a cycle with nothing changed
- calls_first_load: API calls of the first cycle over those records (one Bulk API 2.0 job)
- calls_cycle_within_overlap: the cycle a minute after those changes were read: `updated` works in
  whole minutes and the cursor never passes its latestDateCovered, so the minute read last is read
  once more (the price of catching commits that land with an earlier stamp)
- calls_per_idle_cycle_8_objects: API calls of an idle cycle over the 8 original default SYNC_OBJECTS
  (people, activities, campaigns and users; the default now adds Opportunity and OpportunityContactRole)
- upsert_per_s_sqlite / upsert_per_s_postgresql: records per second through sync.mirror.apply_records
  (half first-seen inserts, half updates of one field each, batches of 2,000 as the cycle does)
- outbound_to_event_p50_ms / _p95_ms: from POSTing an Outbound Message to the app's web server
  until its change event is committed by a running worker (which reads the record back from a
  local dev org first: a notification is only a hint)

Targets: ≤ ceil(N/2,000) + 1 calls per cycle, ≤ 1 call per idle cycle (8 objects too), ≥ 5,000 records/s,
p95 < 1 s. A part whose dependency is missing (no PostgreSQL, no dev org) reports null.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import fresh_postgres

PG_DEFAULT = "postgresql://postgres@127.0.0.1/tsunagi_bench_sync"

# The objects calls_per_idle_cycle_8_objects has always measured (the default before opportunities).
EIGHT_OBJECTS = ("Lead", "Contact", "Account", "Task", "Event", "Campaign", "CampaignMember", "User")


def _lead(n: int, stamp: str, status: str = "Open") -> dict[str, Any]:
    """A Lead as the REST API returns it, with the ~25 fields a real org's Lead typically has."""
    return {
        "attributes": {"type": "Lead", "url": f"/services/data/v59.0/sobjects/Lead/00Q{n:012d}AAA"},
        "Id": f"00Q{n:012d}AAA", "SystemModstamp": stamp, "IsDeleted": False,
        "LastName": f"山田{n}", "FirstName": "太郎", "LastNameKana__c": "ヤマダ", "FirstNameKana__c": "タロウ",
        "Email": f"taro{n}@example.jp", "Phone": f"03-{n % 10000:04d}-{n % 9000 + 1000:04d}",
        "MobilePhone": None, "Company": f"株式会社テスト{n % 500}", "Status": status, "LeadSource": "Web",
        "Street": "千代田1-1", "City": "千代田区", "State": "東京都", "PostalCode": "100-0001", "Country": "JP",
        "OwnerId": "005000000000001AAA", "CreatedDate": "2026-11-01T00:00:00.000+0000",
        "CreatedById": "005000000000001AAA", "LastModifiedDate": stamp, "LastModifiedById": "005000000000001AAA",
        "HasOptedOutOfEmail": False, "NumberOfEmployees": 10, "AnnualRevenue": 1000000.0,
        "Description": "資料請求あり", "Rating": "Warm", "Industry": "Retail",
    }


@contextmanager
def _app(database_url: str, **settings: Any):
    from app import create_app
    from migrations import upgrade

    upgrade(database_url)
    with tempfile.TemporaryDirectory() as instance:
        app = create_app({"TESTING": True, "instance_path": instance,
                          "environ": {"SECRET_KEY": "bench", "PUBLIC_BASE_URL": "http://localhost"},
                          "settings": {"database_url": database_url, **settings}})
        try:
            yield app
        finally:
            from db import get_db

            get_db(app).dispose()


def upsert_rate(database_url: str, records: int) -> float:
    """Records per second through apply_records: `records` inserts, then `records` one-field updates."""
    from db import get_db
    from sync.mirror import apply_records

    batch = 2000  # a cycle applies one query page (2,000 records) per transaction
    first = [_lead(n, "2026-11-20T10:00:00.000+0000") for n in range(records)]
    changed = [_lead(n, "2026-11-20T10:05:00.000+0000", status="Working") for n in range(records)]
    with _app(database_url) as app:
        database = get_db(app)
        started = time.perf_counter()
        for rows in (first, changed):
            for i in range(0, len(rows), batch):
                with database.transaction() as session:
                    apply_records(session, "Lead", rows[i:i + batch], "poll")
        elapsed = time.perf_counter() - started
    return round(2 * records / elapsed)


def _envelope(org_id: str, n: int, record_id: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>
<notifications xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>{org_id}</OrganizationId>
<ActionId>04k000000000001AAA</ActionId><SessionId xsi:nil="true"/>
<Notification><Id>04l{n:012d}AAA</Id><sObject xsi:type="sf:Lead" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
<sf:Id>{record_id}</sf:Id><sf:IsDeleted>false</sf:IsDeleted><sf:LastName>山田</sf:LastName>
<sf:SystemModstamp>2026-11-20T10:05:00.000Z</sf:SystemModstamp>
</sObject></Notification></notifications></soapenv:Body></soapenv:Envelope>""".encode()


def outbound_latency(database_url: str, messages: int) -> tuple[float, float]:
    """p50 and p95 ms from POSTing an Outbound Message until its change event is committed.

    The worker reads each notified record back from the org (a notification is only a hint, see
    webhooks.jobs), so this includes one query to a local dev org over HTTPS.
    """
    import requests
    from sqlalchemy import select
    from werkzeug.serving import make_server

    from db import get_db
    from devorg.org import DevOrg
    from sync.models import ChangeEvent
    from webhooks.jobs import apply_outbound
    from work.worker import run_worker

    with tempfile.TemporaryDirectory() as folder:
        org = DevOrg(Path(folder) / "org")
        org.start()
        try:
            ids = [org.insert("Lead", LastName=f"山田{n}", Company="生協") for n in range(messages + 1)]
            with _app(database_url, worker_idle_sleep_seconds=0.05, outbound_rate_limit_per_ip=messages + 1,
                      **org.app_settings()) as app:
                database = get_db(app)
                server = make_server("127.0.0.1", 0, app, threaded=True)
                threading.Thread(target=server.serve_forever, daemon=True).start()
                url = f"http://127.0.0.1:{server.server_port}/webhooks/salesforce/outbound"
                latencies = []
                with requests.Session() as http:
                    # A first message reads the object's describe and signs in: not what is measured.
                    http.post(url, data=_envelope(org.org_id, messages, ids[messages]),
                              headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=10).raise_for_status()
                    apply_outbound(app, "warm-up")
                    stop = threading.Event()
                    worker = threading.Thread(target=run_worker, args=(app, stop, "bench-worker"), daemon=True)
                    worker.start()
                    try:
                        for n in range(messages):
                            started = time.perf_counter()
                            answer = http.post(url, data=_envelope(org.org_id, n, ids[n]),
                                               headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=10)
                            answer.raise_for_status()
                            while True:
                                with database.sessionmaker() as session:
                                    if session.scalar(select(ChangeEvent.id).where(ChangeEvent.record_id == ids[n])):
                                        break
                                if time.perf_counter() - started > 10:
                                    raise TimeoutError(f"no change event for {ids[n]}")
                                time.sleep(0.002)
                            latencies.append((time.perf_counter() - started) * 1000)
                    finally:
                        stop.set()
                        worker.join(timeout=10)
                        server.shutdown()
        finally:
            org.close()
    latencies.sort()
    p95 = latencies[min(len(latencies) - 1, round(0.95 * len(latencies)) - 1)]
    return round(statistics.median(latencies), 1), round(p95, 1)


def _minute_later(org: Any, *apps: Any) -> None:
    """The org's clock moves on a minute, as between two real cycles; each app's gateway hears its new
    time (in real time its estimate advances by itself) through one `limits` call, not counted."""
    from datetime import timedelta

    from salesforce import gateway_for

    org.set_clock_offset(org.store.clock_offset + timedelta(minutes=1, seconds=1))
    for app in apps:
        gateway_for(app).limits()


def api_calls(changed: int) -> dict[str, Any]:
    """API calls the dev org counted for a cycle after `changed` records changed, and for idle cycles.

    The org holds `changed` Leads; a first cycle loads them (one Bulk API 2.0 job); every Lead is
    then edited as a person would, and one cycle reads the changes; the next minute's cycle reads the
    last minute again (windows are whole minutes); then a cycle runs with nothing changed. Calls are
    the org's own count (what Salesforce would bill). A second mirror syncs the default 8 objects
    (Lead, Contact, Account, Task, Event, Campaign, CampaignMember, User) until idle.
    """
    from devorg.org import DevOrg
    from sync.cycle import run_cycle

    with tempfile.TemporaryDirectory() as folder:
        org = DevOrg(Path(folder) / "org")
        org.start()
        try:
            ids = [org.insert("Lead", LastName=f"会員{n:05d}", Company="生協", Email=f"m{n}@example.jp")
                   for n in range(changed)]
            database_url = f"sqlite:///{folder}/calls.db"
            common = {"sync_bulk_threshold": changed // 2, **org.app_settings()}
            with _app(database_url, sync_objects=("Lead",), **common) as app, \
                    _app(f"sqlite:///{folder}/eight.db", sync_objects=EIGHT_OBJECTS, **common) as eight:
                before = org.api_calls
                outcomes = [run_cycle(app).outcome]
                first_load_calls = org.api_calls - before
                for n, record_id in enumerate(ids):
                    org.update("Lead", record_id, Status="Working - Contacted", Description=f"変更 {n}")
                _minute_later(org, app)
                before = org.api_calls
                outcomes.append(run_cycle(app).outcome)
                changed_calls = org.api_calls - before
                _minute_later(org, app)
                before = org.api_calls
                outcomes.append(run_cycle(app).outcome)
                overlap_calls = org.api_calls - before
                _minute_later(org, app)
                before = org.api_calls
                outcomes.append(run_cycle(app).outcome)
                idle_calls = org.api_calls - before
                outcomes.append(run_cycle(eight).outcome)  # first load of the 8 default objects
                _minute_later(org, eight)
                outcomes.append(run_cycle(eight).outcome)  # the last minute read again
                _minute_later(org, eight)
                before = org.api_calls
                outcomes.append(run_cycle(eight).outcome)
                idle_eight = org.api_calls - before
        finally:
            org.close()
    if set(outcomes) != {"ok"}:
        raise RuntimeError(f"a sync cycle did not finish: {outcomes}")
    return {"changed": changed, "calls_first_load": first_load_calls,
            "calls_per_10k_changed": round(changed_calls * 10000 / changed, 1), "calls_per_idle_cycle": idle_calls,
            "calls_cycle_within_overlap": overlap_calls, "calls_per_idle_cycle_8_objects": idle_eight}


def main(argv: list[str] | None = None) -> None:
    """Run every part and print the one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer records and messages (a smoke run)")
    parser.add_argument("--postgresql", default=PG_DEFAULT, help="PostgreSQL URL of a scratch database")
    args = parser.parse_args(argv)
    records = 2000 if args.quick else 10000
    results: dict[str, Any] = {"records": records}
    results.update(api_calls(changed=2000 if args.quick else 10000))
    with tempfile.TemporaryDirectory() as tmp:
        results["upsert_per_s_sqlite"] = upsert_rate(f"sqlite:///{Path(tmp) / 'bench.db'}", records)
        pg = fresh_postgres(args.postgresql, "sync")
        results["upsert_per_s_postgresql"] = upsert_rate(pg, records) if pg else None
        p50, p95 = outbound_latency(f"sqlite:///{Path(tmp) / 'outbound.db'}", 30 if args.quick else 200)
    results["outbound_to_event_p50_ms"], results["outbound_to_event_p95_ms"] = p50, p95
    print(json.dumps(results))


if __name__ == "__main__":
    main()
