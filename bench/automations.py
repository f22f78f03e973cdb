"""Benchmark of automations: change-event evaluation rate, and claiming due steps among a million.

    .venv/bin/python -m bench.automations [--quick] [--postgresql URL] [--explain]

Prints one JSON line:
- events_per_s: change events evaluated per second by the worker's own entry point
  (automations.jobs.process_events, batches of AUTOMATIONS_EVENT_BATCH, each one transaction)
  until none is left unprocessed. The events are `updated` events of Task.Visit_Result__c on Tasks
  linked to Contacts in the mirror, the field the shipped 不在フォロー (absent-follow-up) listens to;
  one in ten became 不在 and so fires it (of those, one in ten has a Contact without Email and is
  recorded as not entered), the rest changed to another value and enter nothing. Every shipped
  example is loaded and enabled. `events`, `events_matching` and `enrollments` say how much work
  that was; `events_per_s_sqlite` is the same run on SQLite.
- events_per_s_no_match: the same on PostgreSQL when no event fires anything (the cost of
  evaluation alone; the difference from events_per_s is the cost of entering and planning).
- claim_1000_of_1m_ms / claim_1000_of_1m_p95_ms: median and p95 ms of one claim of 1,000 due steps
  (automations.engine.claim_steps, what the `automations.steps` work source runs: SELECT … FOR
  UPDATE SKIP LOCKED, mark running with a lease, load the rows) with `planned_steps` queued steps
  on PostgreSQL, of which `due_steps` are due (the rest due over the next 30 days). Each claim is
  committed, then released back to queued, so every claim sees the same queue.
- peak_rss_mb: peak resident memory of this process (ru_maxrss) after seeding the steps and doing
  the claims, before the event part; `rss_before_steps_mb` is the same peak just before seeding
  (interpreter + app). Close figures mean a claim reads only its batch, never the million rows
  (the steps are inserted server-side with generate_series, so seeding costs no client memory).

Targets: events_per_s ≥ 10,000; claim_1000_of_1m_ms < 50 with 1,000,000 planned steps. --quick
uses 4,000 events and 100,000 steps. The scratch PostgreSQL database is created and dropped by the
bench; when PostgreSQL is not reachable its keys are null. --explain prints EXPLAIN (ANALYZE,
BUFFERS) of the claim's SELECT to stderr.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from bench.common import bench_app, drop_postgres, fresh_postgres, peak_rss_mb, percentile

PG_DEFAULT = "postgresql://postgres@127.0.0.1/tsunagi_bench_automations"
WORKER = "bench-worker"
CLAIM = 1000


@contextmanager
def _app(database_url: str) -> Iterator[Any]:
    """An app on `database_url` (migrated) with every shipped automation example loaded and enabled."""
    from automations.service import load_examples
    from db import get_db
    from migrations import upgrade

    upgrade(database_url)
    with bench_app(database_url) as app:
        with app.app_context(), get_db(app).transaction() as session:
            load_examples(session)
        yield app


def _seed_events(app: Any, events: int, match_every: int) -> int:
    """Mirror Contacts and one Task per event, and the unprocessed change events; returns how many match.

    Every `match_every`-th event sets Visit_Result__c to 不在 (0: none does).
    """
    from sqlalchemy import insert

    from config.person_model import default_model
    from db import get_db, utcnow
    from sync.keys import record_keys
    from sync.models import ChangeEvent, MirrorRecord

    now = utcnow()
    people = max(1, events // 2)
    mirror: list[dict[str, Any]] = []
    for n in range(people):
        fields = {"Id": f"003{n:012d}AAA", "LastName": f"山田{n}", "FirstName": "太郎",
                  "Email": None if n % 10 == 0 else f"contact{n}@example.jp", "HasOptedOutOfEmail": False}
        mirror.append({"sf_id": fields["Id"], "object_name": "Contact", "fields": fields, "system_modstamp": now,
                       "is_deleted": False, "first_seen_at": now, "last_seen_at": now, "last_source": "poll",
                       **record_keys("Contact", fields, default_model())})
    others = ("訪問済", "商談化", "再訪問予定")
    changes: list[dict[str, Any]] = []
    matching = 0
    for n in range(events):
        new = "不在" if match_every and n % match_every == 0 else others[n % 3]
        matching += new == "不在"
        # Matching Tasks belong to Contacts n/10, so every tenth of them has no Email (condition fails).
        who = f"003{(n // match_every if new == '不在' else n) % people:012d}AAA"
        stamp = now - timedelta(minutes=30) + timedelta(milliseconds=n)
        fields = {"Id": f"00T{n:012d}AAA", "Subject": "訪問", "WhoId": who, "Visit_Result__c": new,
                  "OwnerId": "005000000000001AAA"}
        mirror.append({"sf_id": fields["Id"], "object_name": "Task", "fields": fields, "system_modstamp": stamp,
                       "is_deleted": False, "first_seen_at": now, "last_seen_at": now, "last_source": "poll",
                       **record_keys("Task", fields, default_model())})
        changes.append({"object_name": "Task", "record_id": fields["Id"], "kind": "updated",
                        "field": "Visit_Result__c", "old_value": "未訪問", "new_value": new, "occurred_at": stamp,
                        "recorded_at": now, "source": "outbound" if n % 4 == 0 else "poll", "processed_at": None})
    with get_db(app).transaction() as session:
        for i in range(0, len(mirror), 5000):
            session.execute(insert(MirrorRecord), mirror[i:i + 5000])
        for i in range(0, len(changes), 5000):
            session.execute(insert(ChangeEvent), changes[i:i + 5000])
    return matching


def event_rate(database_url: str, events: int, match_every: int = 10) -> dict[str, Any]:
    """Seed, then time automations.jobs.process_events until every change event is processed."""
    from sqlalchemy import func, select, text

    from automations.jobs import process_events
    from automations.models import Enrollment
    from db import get_db
    from sync.models import ChangeEvent

    with _app(database_url) as app:
        matching = _seed_events(app, events, match_every)
        database = get_db(app)
        if not database.is_sqlite:
            with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        with app.app_context():
            started = time.perf_counter()
            while process_events(WORKER) > 0:
                pass
            elapsed = time.perf_counter() - started
        with database.transaction() as session:
            left = session.scalar(select(func.count()).select_from(ChangeEvent)
                                  .where(ChangeEvent.processed_at.is_(None)))
            enrolled = session.scalar(select(func.count()).select_from(Enrollment))
    assert left == 0, f"{left} change events left unprocessed"
    return {"events_per_s": round(events / elapsed), "events_matching": matching, "enrollments": enrolled}


def _seed_steps(app: Any, steps: int, due: int) -> None:
    """Insert `steps` enrollments of absent-follow-up, each with its queued first step, server-side.

    `due` of them are due within the last hour; the rest are due over the next 30 days.
    """
    from sqlalchemy import select, text

    from automations.models import Automation
    from db import get_db

    database = get_db(app)
    with database.transaction() as session:
        automation_id = session.scalar(select(Automation.id).where(Automation.key == "absent-follow-up"))
        session.execute(text("""
            INSERT INTO automation_enrollments
                (automation_id, subject_id, occurrence, person_id, status, reason, context, enrolled_at)
            SELECT :automation_id, '003' || lpad(g::text, 12, '0') || 'AAA', 'bench:' || g,
                   '003' || lpad(g::text, 12, '0') || 'AAA', 'active', 'bench', '{}'::jsonb,
                   now() - interval '1 day'
            FROM generate_series(1, :steps) AS g"""), {"automation_id": automation_id, "steps": steps})
        # Every (steps // due)-th enrollment is due in the last hour; the others spread over 30 days.
        session.execute(text("""
            INSERT INTO automation_planned_steps
                (plan_key, automation_id, automation_version, enrollment_id, step_index, person_id, reason,
                 created_at, status, due_at, attempts)
            SELECT 'absent-follow-up/0/' || e.subject_id || '/' || e.occurrence, e.automation_id, 1, e.id, 0,
                   e.person_id, '', now() - interval '1 day', 'queued',
                   CASE WHEN e.id % :stride = 0 THEN now() - (e.id * 37 % 3600) * interval '1 second'
                        ELSE now() + interval '1 minute' + (e.id * 7919 % 2592000) * interval '1 second' END,
                   0
            FROM automation_enrollments e WHERE e.automation_id = :automation_id"""),
            {"automation_id": automation_id, "stride": steps // due})
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE automation_enrollments"))
        conn.execute(text("VACUUM ANALYZE automation_planned_steps"))


def _explain_claim(app: Any) -> None:
    """Print EXPLAIN (ANALYZE, BUFFERS) of the exact SELECT claim_steps sends (then roll back)."""
    from sqlalchemy import event

    from automations import engine
    from automations.jobs import runtime
    from db import get_db

    database = get_db(app)
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        seen.append((statement, parameters))

    with app.app_context(), database.sessionmaker() as session:
        event.listen(database.engine, "before_cursor_execute", capture)
        try:
            engine.claim_steps(session, runtime(), WORKER, CLAIM)
        finally:
            event.remove(database.engine, "before_cursor_execute", capture)
        session.rollback()
        statement, parameters = next((s, p) for s, p in seen if "SKIP LOCKED" in s)
        cursor = session.connection().connection.driver_connection.cursor()
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
        print(statement, parameters, *(row[0] for row in cursor.fetchall()), sep="\n", file=sys.stderr)
        session.rollback()


def claim_speed(database_url: str, steps: int, due: int, claims: int, explain: bool) -> dict[str, Any]:
    """Seed `steps` planned steps, then time `claims` claims of 1,000 due steps; also the peak RSS."""
    from sqlalchemy import update

    from automations import engine
    from automations.jobs import runtime
    from automations.models import PlannedStep
    from db import get_db

    samples: list[float] = []
    with _app(database_url) as app:
        baseline_mb = peak_rss_mb()
        _seed_steps(app, steps, due)
        database = get_db(app)
        if explain:
            _explain_claim(app)
        with app.app_context():
            for attempt in range(claims + 1):  # the first claim warms caches and is not counted
                with database.transaction() as session:
                    started = time.perf_counter()
                    claimed = engine.claim_steps(session, runtime(), WORKER, CLAIM)
                    took = (time.perf_counter() - started) * 1000
                    ids = [step.id for step in claimed]
                assert len(ids) == CLAIM, f"claimed {len(ids)} of {CLAIM}"
                if attempt:
                    samples.append(took)
                # Release the batch (as if its lease had been given back) so every claim sees the same queue.
                with database.transaction() as session:
                    session.execute(update(PlannedStep).where(PlannedStep.id.in_(ids))
                                    .values(status="queued", locked_by=None, locked_until=None, attempts=0))
    return {"claim_1000_of_1m_ms": round(statistics.median(samples), 2),
            "claim_1000_of_1m_p95_ms": percentile(samples, 0.95), "peak_rss_mb": peak_rss_mb(),
            "rss_before_steps_mb": baseline_mb}


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="4,000 events and 100,000 planned steps")
    parser.add_argument("--postgresql", default=PG_DEFAULT, help="PostgreSQL URL (its database is recreated)")
    parser.add_argument("--explain", action="store_true", help="print the claim's query plan to stderr")
    args = parser.parse_args(argv)
    import logging

    logging.disable(logging.WARNING)
    events = 4_000 if args.quick else 20_000
    steps, due, claims = (100_000, 2_000, 7) if args.quick else (1_000_000, 5_000, 21)
    result: dict[str, Any] = {"events": events, "planned_steps": steps, "due_steps": due, "claims": claims}
    pg = fresh_postgres(args.postgresql, "automations")
    if pg:
        try:
            # Steps first, so peak_rss_mb covers the million-row part and not the event batches.
            result.update(claim_speed(pg, steps, due, claims, args.explain))
            drop_postgres(pg)
            fresh_postgres(pg, "automations")
            result.update(event_rate(pg, events))
            drop_postgres(pg)
            fresh_postgres(pg, "automations")
            result["events_per_s_no_match"] = event_rate(pg, events, match_every=0)["events_per_s"]
        finally:
            drop_postgres(pg)
    else:
        result.update(dict.fromkeys(("claim_1000_of_1m_ms", "claim_1000_of_1m_p95_ms", "peak_rss_mb",
                                     "rss_before_steps_mb", "events_per_s", "events_matching", "enrollments",
                                     "events_per_s_no_match")))
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = event_rate(f"sqlite:///{tmp}/bench.db", events)
    result["events_per_s_sqlite"] = sqlite["events_per_s"]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
