"""Benchmark of tsunagi at the reference customer's size: admin pages over a mirror of N people.

    .venv/bin/python -m bench.scale [--people 1000000] [--repeat 5] [--postgresql URL] [--keep]

Builds a scratch PostgreSQL database with set-based SQL (bench/scale_data.py: N people, 60 %
Contacts, 40 % Leads, 5 % sharing an address with another record, 5 N activities, 5 N change
events, N sent mails), creates one segment of every Contact in 東京都 and one of everyone, then
requests every admin page through the real Flask app (test client, signed in as an admin), each
`--repeat` times after one warm-up, and prints one JSON line:

- page_p95_ms: p95 ms per admin page (segments list and a segment's page, data quality, every
  report, the automations list, sync status, the write-back queue, the mail admin);
- page_p95_ms_max: the slowest of them (target ≤ 1,000 at 1,000,000 people);
- tables: rows and MB per table; build_s: how long building the data took;
- reports_refresh_s: one run of the `reports.refresh` job (data quality and the 30-day automation
  figures, precomputed as the clock does every REPORTS_REFRESH_SECONDS) before the pages are timed;
- when bench/scale_broadcast.py is present (the broadcast half of issue 19), the fields its
  `measure(...)` returns, run on a database of its own (`<name>_broadcast`) with N people.

The database is dropped at the end unless --keep is given (then --reuse skips the build next time).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from typing import Any

from bench.common import bench_app, drop_postgres, fresh_postgres, peak_rss_mb, percentile

PG_DEFAULT = "postgresql://postgres@127.0.0.1/tsunagi_bench_scale"
PASSWORD = "bench-admin-password-1234"
SEGMENTS = (
    {"key": "tokyo-contacts", "name": "東京都の組合員", "objects": ["Contact"],
     "conditions": [{"field": "MailingState", "op": "eq", "value": "東京都"},
                    {"field": "HasOptedOutOfEmail", "op": "is_false"}]},
    {"key": "everyone", "name": "全員", "objects": ["Lead", "Contact"],
     "conditions": [{"field": "Email", "op": "is_set"}]},
)


def pages() -> dict[str, str]:
    """Name → URL of every admin page the benchmark times."""
    return {
        "automations": "/admin/automations/",
        "segment_tokyo": "/admin/automations/segments/tokyo-contacts",
        "segment_everyone": "/admin/automations/segments/everyone",
        "data_quality": "/admin/reports/data-quality",
        "reports_overview": "/admin/reports/",
        "reports_automations": "/admin/reports/automations",
        "reports_campaigns": "/admin/reports/campaigns",
        "reports_forms": "/admin/reports/forms",
        "reports_deliverability": "/admin/reports/deliverability",
        "reports_sync": "/admin/reports/sync",
        "reports_stages": "/admin/reports/stages",
        "sync_status": "/admin/sync",
        "writeback_queue": "/admin/writeback",
        "mail_admin": "/admin/mail/",
        "mail_log": "/admin/mail/log",
        "scoring": "/admin/scoring",
        "reports_opportunities": "/admin/reports/opportunities",
        "forms_admin": "/forms/admin/",
        "audit_log": "/admin/audit",
        "users": "/admin/users",
    }


def _pages_of_one_person(app: Any) -> dict[str, str]:
    """The person page and the sent-mail log searched by address, for a person the data gave mail
    and activities (the busiest pages about one person)."""
    from sqlalchemy import text

    from db import get_db

    with get_db(app).engine.connect() as connection:
        row = connection.execute(text(
            "SELECT o.person_id, o.to_address FROM mail_outbox o WHERE o.person_id IS NOT NULL "
            "AND EXISTS (SELECT 1 FROM activities a WHERE a.person_id = o.person_id) LIMIT 1")).first()
    if row is None:
        return {}
    return {"person_page": f"/people/{row[0]}", "mail_log_by_address": f"/admin/mail/log?address={row[1]}"}


def _prepare(app: Any, people: int, reuse: bool) -> dict[str, Any]:
    """Migrate, load the shipped examples and two segments, build the data; the table sizes."""
    from automations.service import load_examples, save_segment
    from bench import scale_data
    from db import get_db
    from people.service import create_user

    database = get_db(app)
    if reuse:
        return scale_data.table_sizes(database.engine)
    with app.app_context(), database.transaction() as session:
        load_examples(session)
        for spec in SEGMENTS:
            save_segment(session, spec)
        create_user(session, "bench-admin@example.jp", "admin", PASSWORD)
    return scale_data.build(database.engine, people)


def _refresh_reports(app: Any) -> float:
    """Run the reports.refresh job once, as the clock would have; its duration in seconds."""
    started = time.perf_counter()
    with app.app_context():
        app.extensions["tsunagi.work"].job_handlers["reports.refresh"]({})
    return round(time.perf_counter() - started, 1)


def time_pages(app: Any, repeat: int) -> dict[str, float]:
    """p95 ms of each admin page over `repeat` requests after one warm-up (each must answer 200)."""
    client = app.test_client()
    response = client.post("/login", data={"email": "bench-admin@example.jp", "password": PASSWORD})
    assert response.status_code == 302, response.status_code
    out: dict[str, float] = {}
    for name, url in {**pages(), **_pages_of_one_person(app)}.items():
        samples = []
        for i in range(repeat + 1):
            started = time.perf_counter()
            response = client.get(url)
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, (url, response.status_code)
            if i:
                samples.append(elapsed)
        out[name] = percentile(samples, 0.95)
        print(f"bench.scale: {name} {out[name]} ms", file=sys.stderr)
    return out


def _broadcast_figures(database_url: str, people: int) -> dict[str, Any]:
    """The broadcast half's figures (bench/scale_broadcast.py) when that module exists, else none.

    It builds its own mirror and empties the database it is given, so it gets its own database
    (this one's name + `_broadcast`) and, when its `measure` takes an SMTP server, its own sink
    process. A failure there is reported in `broadcast_error`, never losing the page figures.
    """
    import inspect

    from sqlalchemy.engine import make_url

    try:
        module = importlib.import_module("bench.scale_broadcast")
    except ModuleNotFoundError as exc:
        if exc.name != "bench.scale_broadcast":
            raise
        return {}
    measure = getattr(module, "measure", None)
    if measure is None:
        return {}
    url = make_url(database_url)
    own = url.set(database=f"{url.database}_broadcast").render_as_string(hide_password=False)
    params = inspect.signature(measure).parameters
    sink = module.SinkProcess() if "smtp_port" in params and hasattr(module, "SinkProcess") else None
    try:
        if sink is not None:
            return dict(measure(own, "127.0.0.1", sink.port, people=people, sink=sink))
        return dict(measure(own, people=people) if "people" in params else measure(own))
    except Exception as exc:  # the other half's failure must not hide this half's figures
        return {"broadcast_error": f"{type(exc).__name__}: {exc}"[:500]}
    finally:
        if sink is not None:
            sink.close()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark and print its JSON line."""
    parser = argparse.ArgumentParser(prog="bench.scale", description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgresql", default=PG_DEFAULT)
    parser.add_argument("--keep", action="store_true", help="keep the database for --reuse")
    parser.add_argument("--reuse", action="store_true", help="use the database a --keep run left")
    parser.add_argument("--no-broadcast", action="store_true", help="skip bench/scale_broadcast.py")
    args = parser.parse_args(argv)

    from migrations import upgrade

    url = args.postgresql if args.reuse else fresh_postgres(args.postgresql, "scale")
    if url is None:
        result: dict[str, Any] = {"people": args.people, "page_p95_ms": None, "page_p95_ms_max": None}
        print(json.dumps(result))
        return result
    try:
        upgrade(url)
        with bench_app(url) as app:
            started = time.perf_counter()
            tables = _prepare(app, args.people, args.reuse)
            build_s = round(time.perf_counter() - started, 1)
            refresh_s = _refresh_reports(app)
            p95 = time_pages(app, args.repeat)
        result = {"people": args.people, "page_p95_ms": p95, "page_p95_ms_max": max(p95.values()),
                  "slowest_page": max(p95, key=p95.__getitem__), "tables": tables, "build_s": build_s,
                  "reports_refresh_s": refresh_s,
                  "peak_rss_mb": peak_rss_mb()}
        if not args.no_broadcast:
            result.update(_broadcast_figures(url, args.people))
    finally:
        if not args.keep:
            drop_postgres(url)
    print(json.dumps(result, ensure_ascii=False))
    return result


if __name__ == "__main__":
    main()
