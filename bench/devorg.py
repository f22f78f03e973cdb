"""Benchmark of the dev org: query page latency, loading and querying 50,000 records.

    .venv/bin/python -m bench.devorg [--quick] [--records N]

Prints one JSON line:
- page_2000_server_ms_p50 / _p95: one 2,000-record query page of Contacts with 20 fields, parsed,
  evaluated and rendered by the org (the REST handler, no HTTP)
- page_2000_e2e_ms_p50 / _p95: the same page through simple-salesforce over HTTPS on loopback
  (keep-alive session), JSON decoded
- load_records_per_s: Contacts created through composite/sobjects, 200 per call (one client)
- query_all_s: `query_all` of every record (WHERE + ORDER BY, 2,000 per page) over HTTPS
- selective_query_ms: a query matching one record among all of them, over HTTPS
- count_query_ms: SELECT COUNT() over all records with a LIKE filter, over HTTPS
- restart_load_s: opening the org's SQLite file again (what `devorg serve` does on start)
Target: a 2,000-record page well under 100 ms; 50,000 records load and query without trouble.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

FIELDS = ("Id, LastName, FirstName, LastNameKana__c, FirstNameKana__c, Email, Phone, MobilePhone, "
          "MailingPostalCode, MailingState, MailingCity, MailingStreet, HasOptedOutOfEmail, Absent__c, "
          "Score__c, Tsunagi_Key__c, OwnerId, CreatedDate, LastModifiedDate, SystemModstamp")


def _contact(n: int) -> dict[str, Any]:
    return {"attributes": {"type": "Contact"}, "LastName": f"山田{n}", "FirstName": "花子",
            "LastNameKana__c": "ヤマダ", "FirstNameKana__c": "ハナコ", "Email": f"hanako{n}@example.jp",
            "Phone": f"03-{n % 10000:04d}-{n % 9000 + 1000:04d}", "MailingPostalCode": f"{n % 1000:03d}-0001",
            "MailingState": "東京都", "MailingCity": "世田谷区", "MailingStreet": f"桜丘{n % 5 + 1}-{n % 30 + 1}",
            "Score__c": n % 100, "Tsunagi_Key__c": f"member-{n:07d}"}


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def run(records: int, repeats: int) -> dict[str, Any]:
    """Run every measurement on a fresh org with `records` Contacts."""
    from devorg.org import DevOrg
    from devorg.rest import Call

    folder = Path(tempfile.mkdtemp(prefix="bench-devorg-"))
    org = DevOrg(folder).start()
    sf = org.salesforce()
    started = time.perf_counter()
    for first in range(0, records, 200):
        batch = [_contact(n) for n in range(first, min(first + 200, records))]
        results = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": batch})
        assert all(r["success"] for r in results)
    load_s = time.perf_counter() - started

    soql = f"SELECT {FIELDS} FROM Contact ORDER BY SystemModstamp, Id"
    call = Call("GET", "v59.0/query", {"q": soql}, None, {}, org.integration_user_id)
    server_ms = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        status, body, _headers = org.rest.handle(call)
        server_ms.append((time.perf_counter() - t0) * 1000)
        assert status == 200 and len(body["records"]) == min(2000, records)
    e2e_ms = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        page = sf.query(soql)
        e2e_ms.append((time.perf_counter() - t0) * 1000)
        assert len(page["records"]) == min(2000, records)

    t0 = time.perf_counter()
    everything = sf.query_all(f"SELECT {FIELDS} FROM Contact WHERE Score__c >= 0 ORDER BY LastName, Id")
    query_all_s = time.perf_counter() - t0
    assert everything["totalSize"] == records

    t0 = time.perf_counter()
    one = sf.query(f"SELECT Id FROM Contact WHERE Email = 'hanako{records // 2}@example.jp'")
    selective_ms = (time.perf_counter() - t0) * 1000
    assert one["totalSize"] == 1
    t0 = time.perf_counter()
    counted = sf.query("SELECT COUNT() FROM Contact WHERE LastName LIKE '山田1%'")
    count_ms = (time.perf_counter() - t0) * 1000
    assert counted["totalSize"] > 0
    org.close()

    t0 = time.perf_counter()
    reopened = DevOrg(folder)
    restart_s = time.perf_counter() - t0
    assert len(reopened.records("Contact")) == records
    reopened.close()
    return {
        "records": records,
        "page_2000_server_ms_p50": round(statistics.median(server_ms), 1),
        "page_2000_server_ms_p95": round(_percentile(server_ms, 0.95), 1),
        "page_2000_e2e_ms_p50": round(statistics.median(e2e_ms), 1),
        "page_2000_e2e_ms_p95": round(_percentile(e2e_ms, 0.95), 1),
        "load_records_per_s": round(records / load_s),
        "query_all_s": round(query_all_s, 2),
        "selective_query_ms": round(selective_ms, 1),
        "count_query_ms": round(count_ms, 1),
        "restart_load_s": round(restart_s, 2),
    }


def main() -> None:
    """Parse options, run, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 records and fewer repeats")
    parser.add_argument("--records", type=int, default=None, help="records to load (default 50,000)")
    args = parser.parse_args()
    records = args.records or (5_000 if args.quick else 50_000)
    print(json.dumps(run(records, repeats=5 if args.quick else 20)))


if __name__ == "__main__":
    main()
