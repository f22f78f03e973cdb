"""Broadcasts: enter a whole segment in bounded, committed chunks, one mail per address.

`start_due(session, rt)` (the clock's `automations.tick`) creates a `BroadcastRun` for each
broadcast whose time has come; `plan_chunk(database, run_id)` then enters the next chunk of
AUTOMATIONS_BROADCAST_CHUNK people in one transaction: their addresses, enrollments and first
steps with set-based INSERT … SELECT statements, and the run's cursor. A crash loses at most the
chunk being written; the next chunk starts at the last committed cursor, and every insert is
ON CONFLICT DO NOTHING on the same unique keys as `engine.enroll`, so nothing is entered twice.
Memory stays flat: a chunk holds an Id range (a segment without conditions) or the Ids the
segment's SQL (automations/segment_sql.py) selects in it, never the whole segment.

One mail per normalized address (`email_key`: NFKC, lower case) per broadcast. When several
records share an address, the one chosen is **the Contact before the Lead** (a Contact is the
member the co-op deals with; a Lead with the same address is usually an older enquiry of the same
person), and among records of the same object the **smallest Id** (the oldest record). People
are entered Contacts first, then Leads, each in Id order, and the first record to claim an
address in `automation_broadcast_addresses` keeps it. An address that any Lead or Contact has
opted out with (HasOptedOutOfEmail) gets no broadcast at all, whichever record the segment chose;
nor does an address that switched the broadcast's topic off in the preference centre (mail.topics).

A run's chunks are serialized by a row lock on the run (FOR UPDATE SKIP LOCKED on PostgreSQL),
so any number of workers may hold a job for it. Broadcast steps go in the bulk lane (lane 1):
workers run a person's own follow-ups first (see engine.claim_steps).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from sqlalchemy import Select, exists, func, literal, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from automations import timing
from automations.conditions import Record
from automations.engine import Runtime, history
from automations.models import (
    Automation,
    BroadcastAddress,
    BroadcastRun,
    Enrollment,
    PlannedStep,
    Segment,
)
from automations.queries import insert_ignoring_duplicates
from db import Database
from sync import read
from sync.models import MirrorRecord

log = logging.getLogger(__name__)

BULK_LANE = 1
# Contacts first: they win an address shared with a Lead (see the module docstring).
PHASES = ("Contact", "Lead")


def occurrence_of(automation: Automation) -> str:
    """The occurrence a broadcast's people enter with (its time)."""
    return f"broadcast:{automation.spec['trigger']['at']}"


def _stored_occurrence(automation: Automation) -> str:
    # As engine.enroll: "never" stores one fixed occurrence, so the unique key forbids a second entry.
    rule = (automation.spec.get("reentry") or {"rule": "never"})["rule"]
    return "once" if rule == "never" else occurrence_of(automation)[:100]


def _insert(session: Session) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def start_due(session: Session, rt: Runtime, automations: list[Automation]) -> list[int]:
    """Create the run of every broadcast whose time has come; returns the ids of runs still planning.

    A broadcast planned before runs existed has only its planning marker (an enrollment on the
    subject "broadcast"): it is done and is not planned again.
    """
    for automation in automations:
        trig = automation.spec["trigger"]
        if datetime.fromisoformat(trig["at"]) > rt.now:
            continue
        occurrence = trig["at"][:100]
        has_run = session.scalar(select(BroadcastRun.id).where(BroadcastRun.automation_id == automation.id,
                                                               BroadcastRun.occurrence == occurrence))
        if has_run is not None:
            continue
        marker = insert_ignoring_duplicates(session, Enrollment, {
            "automation_id": automation.id, "subject_id": "broadcast", "occurrence": occurrence,
            "person_id": None, "status": "finished", "reason": "planning marker", "context": {},
            "enrolled_at": rt.now, "ended_at": rt.now}, ["automation_id", "subject_id", "occurrence"])
        if marker is None:
            continue  # planned before chunked planning existed
        objects = _segment_spec(session, trig["segment"]).get("objects") or ["Lead", "Contact"]
        first = next((p for p in PHASES if p in objects), "")
        session.add(BroadcastRun(automation_id=automation.id, occurrence=occurrence, status="planning",
                                 phase=first, cursor="", started_at=rt.now))
        history(session, automation.id, "fired", f"一斉配信 {trig['segment']} @ {trig['at']}: 登録を開始",
                record_id="broadcast", now=rt.now)
    session.flush()
    return list(session.scalars(select(BroadcastRun.id).where(BroadcastRun.status == "planning")
                                .order_by(BroadcastRun.id)))


def _segment_spec(session: Session, key: str) -> dict[str, Any]:
    segment = session.scalar(select(Segment).where(Segment.key == key))
    return segment.spec if segment is not None else {"objects": [], "conditions": []}


class Everyone:
    """Every live record of `object_name` with an Id in (after, last]: a chunk of a segment without conditions."""

    def __init__(self, object_name: str, after: str, last: str) -> None:
        self.object_name, self.after, self.last = object_name, after, last

    def where(self, ids_column: Any, m: Any) -> list[Any]:
        """Conditions selecting the chunk's people on mirror table `m`, joined on `ids_column`."""
        return [ids_column > self.after, ids_column <= self.last, m.c.object_name == self.object_name,
                m.c.is_deleted.is_(False)]


def _chunk_where(ids: list[str] | Everyone, ids_column: Any, m: Any) -> list[Any]:
    return ids.where(ids_column, m) if isinstance(ids, Everyone) else [ids_column.in_(ids)]


class SegmentFilter:
    """Which people of one chunk the segment selects; computed lookups are read once per filter."""

    def __init__(self, session: Session, spec: dict[str, Any], now: datetime) -> None:
        from automations.segments import _python_check, _statement

        self.spec, self.now = spec, now
        self.conditions = spec.get("conditions") or []
        # The segment compiled to SQL (automations/segment_sql.py); what SQL cannot express is
        # checked in Python on the rows SQL let through (campaign and open lookups read once here).
        self._statement = _statement
        _stmt, residual = _statement(session, spec, now, [MirrorRecord.sf_id])
        self.check = _python_check(session, residual, now) if residual else None

    def ids(self, session: Session, object_name: str, after: str,
            limit: int) -> tuple[list[str] | Everyone, str | None]:
        """(ids selected, last id read) of the next `limit` records of `object_name` after `after`."""
        base = (MirrorRecord.object_name == object_name, MirrorRecord.is_deleted.is_(False),
                MirrorRecord.sf_id > after)
        if not self.conditions:
            # Everyone in the range: only its end is needed (no list of 10,000 bound Ids).
            last = session.scalar(select(MirrorRecord.sf_id).where(*base).order_by(MirrorRecord.sf_id)
                                  .offset(limit - 1).limit(1))
            if last is None:
                last = session.scalar(select(func.max(MirrorRecord.sf_id)).where(*base))
            return (Everyone(object_name, after, last) if last else []), last
        stmt, _residual = self._statement(session, self.spec, self.now,
                                          [MirrorRecord.sf_id, MirrorRecord.fields])
        rows = session.execute(stmt.where(*base).order_by(MirrorRecord.sf_id).limit(limit)).all()
        if not rows:
            return [], None
        records = [Record(sf_id, object_name, fields or {}) for sf_id, fields in rows]
        chosen = [r.id for r in records if self.check is None or self.check(r)]
        return chosen, rows[-1][0]


def _opted_out(address: Any, topic: str | None = None) -> Any:
    """Some person with this address has opted out of mail (the person model's opt-out checkbox),
    or the address switched `topic` off."""
    other = MirrorRecord.__table__.alias("opted")
    opted = exists().where(other.c.email_key == address, other.c.object_name.in_(PHASES),
                           other.c.is_deleted.is_(False), read.opted_out_clause(other.c))
    if topic is None:
        return opted
    from mail.models import TopicOptOut

    # The preference centre's per-topic opt-out (mail.topics), checked again by the outbox worker.
    t = TopicOptOut.__table__
    return or_(opted, exists().where(t.c.address == address, t.c.topic == topic))


def _context_json(session: Session, m: Any, occurrence: str, campaign_id: str | None) -> Any:
    build = func.jsonb_build_object if session.get_bind().dialect.name == "postgresql" else func.json_object
    return build("record_id", m.c.sf_id, "object", m.c.object_name, "occurrence", occurrence,
                 "campaign_id", campaign_id)


def _enter(session: Session, run: BroadcastRun, automation: Automation, ids: list[str] | Everyone,
           tz: str) -> tuple[int, int, int]:
    """Enter `ids` (chosen by the segment): claim addresses, then enroll and plan set-based.

    Returns (entered, folded onto another record, left out for an opted-out address).
    """
    insert = _insert(session)
    m = MirrorRecord.__table__
    chunk = (*_chunk_where(ids, m.c.sf_id, m), m.c.email_key.is_not(None))
    from mail.topics import current_topic_of

    topic = current_topic_of(automation.spec.get("topic"))
    with_address, opted_out = session.execute(
        select(func.count(), func.count().filter(_opted_out(m.c.email_key, topic))).select_from(m).where(*chunk)).one()
    # One row per address in this chunk (smallest Id); an address claimed by an earlier chunk or
    # phase stays with its first record (ON CONFLICT DO NOTHING).
    claims: Select[Any] = (select(literal(run.id), m.c.email_key, func.min(m.c.sf_id))
                           .where(*chunk, ~_opted_out(m.c.email_key, topic)).group_by(m.c.email_key))
    # Counted from RETURNING: the driver's rowcount of INSERT … SELECT is -1 on psycopg.
    claimed = len(session.execute(
        insert(BroadcastAddress.__table__).from_select(["run_id", "address", "person_id"], claims)
        .on_conflict_do_nothing().returning(BroadcastAddress.__table__.c.person_id)
    ).all())
    trig = automation.spec["trigger"]
    stored, seen = _stored_occurrence(automation), occurrence_of(automation)
    why = f"一斉配信 {trig['segment']} @ {trig['at']}"[:300]
    a = BroadcastAddress.__table__
    people = (select(literal(automation.id), m.c.sf_id, literal(stored), m.c.sf_id, literal("active"),
                     literal(why), _context_json(session, m, seen, trig.get("campaign_id")), literal(run.started_at))
              .select_from(a.join(m, m.c.sf_id == a.c.person_id))
              .where(a.c.run_id == run.id, *_chunk_where(ids, a.c.person_id, m)))
    e = Enrollment.__table__
    session.execute(
        insert(e).from_select(["automation_id", "subject_id", "occurrence", "person_id", "status", "reason",
                               "context", "enrolled_at"], people)
        .on_conflict_do_nothing(index_elements=["automation_id", "subject_id", "occurrence"]))
    step = automation.spec["steps"][0]
    start = datetime.fromisoformat(trig["at"])
    due = timing.next_open(timing.after_wait(start, step["wait"], tz), automation.spec.get("window"), tz)
    steps = (select(literal(f"{automation.key}/0/") + e.c.subject_id + literal(f"/{stored}"),
                    literal(automation.id), literal(automation.version), e.c.id, literal(0), e.c.person_id,
                    literal(BULK_LANE), literal("queued"), literal(due), literal(0), literal(""),
                    literal(run.started_at))
             .where(e.c.automation_id == automation.id, e.c.occurrence == stored,
                    *(_chunk_where(ids, e.c.subject_id, m) if not isinstance(ids, Everyone)
                      else [e.c.subject_id > ids.after, e.c.subject_id <= ids.last,
                            e.c.subject_id.like(_prefix(ids.object_name) + "%")])))
    entered = len(session.execute(
        insert(PlannedStep.__table__).from_select(
            ["plan_key", "automation_id", "automation_version", "enrollment_id", "step_index", "person_id", "lane",
             "status", "due_at", "attempts", "reason", "created_at"], steps)
        .on_conflict_do_nothing(index_elements=["plan_key"]).returning(PlannedStep.__table__.c.id)
    ).all())
    return entered, max(0, with_address - opted_out - claimed), opted_out


def _prefix(object_name: str) -> str:
    # Salesforce key prefixes: a Contact's Id starts with 003, a Lead's with 00Q.
    return {"Contact": "003", "Lead": "00Q"}[object_name]


def plan_chunk(database: Database, run_id: int, chunk_size: int, tz: str = "Asia/Tokyo",
               seg_filter: SegmentFilter | None = None) -> bool:
    """Enter the next chunk of a run in one transaction; False when the run is planned (or busy elsewhere)."""
    with database.transaction() as session:
        run = session.scalar(select(BroadcastRun).where(BroadcastRun.id == run_id)
                             .with_for_update(skip_locked=True))
        if run is None or run.status != "planning":
            return False
        automation = session.get(Automation, run.automation_id)
        if automation is None or not automation.enabled:
            run.status, run.finished_at = "planned", run.started_at
            return False
        spec = _segment_spec(session, automation.spec["trigger"]["segment"])
        objects = [p for p in PHASES if p in (spec.get("objects") or ["Lead", "Contact"])]
        seg_filter = seg_filter or SegmentFilter(session, spec, run.started_at)
        ids, last = seg_filter.ids(session, run.phase, run.cursor, chunk_size) if run.phase else ([], None)
        if ids:
            entered, folded, opted = _enter(session, run, automation, ids, tz)
            run.entered += entered
            run.folded += folded
            run.opted_out += opted
        if last is not None:
            run.cursor = last
            run.chunks += 1
            return True
        later = objects[objects.index(run.phase) + 1:] if run.phase in objects else []
        if later:
            run.phase, run.cursor = later[0], ""
            return True
        run.status, run.finished_at = "planned", _clock()
        history(session, automation.id, "finished",
                f"一斉配信の登録完了: {run.entered} 人"
                f"（同じアドレスで統合 {run.folded} 件、配信停止 {run.opted_out} 件）",
                record_id="broadcast", details={"run_id": run.id, "entered": run.entered, "folded": run.folded,
                                                "opted_out": run.opted_out, "chunks": run.chunks},
                now=run.started_at)
        return False


def _clock() -> datetime:
    from db import utcnow

    return utcnow()


def plan(database: Database, run_id: int, chunk_size: int, tz: str = "Asia/Tokyo",
         budget_seconds: float | None = None) -> bool:
    """Plan chunks of a run until it is planned (False) or the time budget or a stop request ends it (True)."""
    from work.running import should_stop

    started = time.monotonic()
    with database.transaction() as session:
        run = session.get(BroadcastRun, run_id)
        automation = session.get(Automation, run.automation_id) if run is not None else None
        if run is None or automation is None or run.status != "planning":
            return False
        seg_filter = SegmentFilter(session, _segment_spec(session, automation.spec["trigger"]["segment"]),
                                   run.started_at)
    while plan_chunk(database, run_id, chunk_size, tz, seg_filter):
        if should_stop() or (budget_seconds is not None and time.monotonic() - started >= budget_seconds):
            with database.transaction() as session:
                still = session.scalar(select(BroadcastRun.status).where(BroadcastRun.id == run_id))
            return still == "planning"
    return False
