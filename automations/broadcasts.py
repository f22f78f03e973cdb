"""Broadcasts: enter a whole segment in bounded, committed chunks, one mail per address.

`start_due(session, rt)` (the clock's `automations.tick`) creates a `BroadcastRun` for each
broadcast whose time has come; `plan_chunk(database, run_id)` then enters the next chunk of
AUTOMATIONS_BROADCAST_CHUNK people in one transaction: their addresses, enrollments and first
steps, and the run's cursor. On PostgreSQL a chunk is one statement (INSERT … SELECT chained by
data-modifying CTEs: claim the addresses, enroll who claimed one, plan their first step); SQLite,
which has no INSERT in a WITH, runs the same three INSERT … SELECT one after the other, each
joined on a key. The chunk is found by keyset (the primary key after the cursor, LIMIT), not by
OFFSET. A crash loses at most the chunk being written; the next chunk starts at the last committed
cursor, and every insert is ON CONFLICT DO NOTHING on the same unique keys as `engine.enroll`, so
nothing is entered twice. Memory stays flat: a chunk is an Id range of the segment's SQL
(automations/segment_sql.py), or, for the few conditions SQL cannot express, the Ids of one chunk
that passed the Python check; never the whole segment, and no row comes back to Python.

One mail per normalized address (`email_key`: NFKC, lower case) per broadcast. When several
records share an address, the one chosen is **the Contact before the Lead** (a Contact is the
member the co-op deals with; a Lead with the same address is usually an older enquiry of the same
person), and among records of the same object the **smallest Id** (the oldest record). People
are entered Contacts first, then Leads, each in Id order, and the first record to claim an
address in `automation_broadcast_addresses` keeps it. An address that any Lead or Contact has
opted out with (HasOptedOutOfEmail) gets no broadcast at all, whichever record the segment chose;
nor does an address that switched the broadcast's topic off in the preference centre (mail.topics).
(`excluded`: each reason to leave an address out is one EXISTS on an indexed column.)

A run's chunks are serialized by a row lock on the run (FOR UPDATE SKIP LOCKED on PostgreSQL),
so any number of workers may hold a job for it. Broadcast steps go in the bulk lane (lane 1):
workers run a person's own follow-ups first (see engine.claim_steps).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, exists, func, literal, or_, select, text
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
from db import Database, table_of, utcnow
from mail.models import TopicOptOut
from mail.topics import current_topic_of
from sync import read
from sync.read import Mirror
from work.running import should_stop

log = logging.getLogger(__name__)

BULK_LANE = 1


def phases(objects: list[str] | None = None) -> list[str]:
    """The person objects a broadcast enters, one phase each, in the order that wins a shared address.

    The person model's objects (Lead, Contact; Account for Person Accounts), narrowed to the
    segment's `objects`: customers' own records (Contact, Person Account) first, then objects that
    convert (Lead), so a Contact wins an address it shares with a Lead (see the module docstring).
    """
    chosen = [o for o in read.person_model().objects if not objects or o.name in objects]
    return [o.name for o in sorted(chosen, key=lambda o: o.converted is not None)]


def occurrence_of(automation: Automation) -> str:
    """The occurrence a broadcast's people enter with (its time)."""
    return f"broadcast:{automation.spec['trigger']['at']}"


def _stored_occurrence(automation: Automation) -> str:
    # As engine.enroll: "never" stores one fixed occurrence, so the unique key forbids a second entry.
    rule = (automation.spec.get("reentry") or {"rule": "never"})["rule"]
    return "once" if rule == "never" else occurrence_of(automation)[:100]


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
        first = next(iter(phases(_segment_spec(session, trig["segment"]).get("objects"))), "")
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


class SegmentFilter:
    """Which people of one chunk the segment selects; computed lookups are read once per filter."""

    def __init__(self, session: Session, spec: dict[str, Any], now: datetime) -> None:
        from automations.segments import _python_check, _statement

        self.spec, self.now = spec, now
        # The segment compiled to SQL (automations/segment_sql.py); what SQL cannot express is
        # checked in Python on the rows SQL let through (campaign and open lookups read once here).
        self._statement = _statement
        _stmt, residual = _statement(session, spec, now, [Mirror.sf_id])
        self.check = _python_check(session, residual, now) if residual else None

    def chunk(self, session: Session, object_name: str, after: str,
              limit: int) -> tuple[Select[*tuple[Any, ...]] | None, str | None]:
        """(SELECT of the chosen people's sf_id and email_key, last Id read) of the next `limit` records
        of `object_name` after the Id `after`; (None, None) when none is left.

        When SQL expresses the whole segment, the chunk is the segment's SQL over an Id range, found
        by keyset (the primary key from `after`, LIMIT): no Id leaves the database. Otherwise the
        rows SQL let through are checked in Python and the chunk is the list of Ids that passed.
        """
        m = Mirror
        base = (m.object_name == object_name, m.sf_id > after)
        if self.check is None:
            ids, _residual = self._statement(session, self.spec, self.now, [m.sf_id])
            window = ids.where(*base).order_by(m.sf_id).limit(limit).subquery()
            last = session.scalar(select(func.max(window.c.sf_id)))
            if last is None:
                return None, None
            stmt, _residual = self._statement(session, self.spec, self.now, [m.sf_id, m.email_key])
            return stmt.where(*base, m.sf_id <= last), last
        stmt, _residual = self._statement(session, self.spec, self.now, [m.sf_id, m.object_name, m.fields])
        rows = session.execute(stmt.where(*base).order_by(m.sf_id).limit(limit)).all()
        if not rows:
            return None, None
        chosen = [sf_id for sf_id, obj, fields in rows if self.check(Record(sf_id, obj, fields or {}))]
        return select(m.sf_id, m.email_key).where(m.sf_id.in_(chosen or [""])), rows[-1][0]


def excluded(address: Any, topic: str | None = None) -> list[Any]:
    """Why an address gets no broadcast: one SQL condition each, true when the address is left out.

    Each is an EXISTS on an indexed column (`email_key`, the topic opt-out's address); a new
    reason is one more entry here. Consent and the frequency cap are checked when the mail is sent
    (mail/consent.py, automations/actions.py): they depend on the send time, not the plan's.
    """
    out = [_opted_out(address)]
    if topic is not None:
        # The preference centre's per-topic opt-out (mail.topics), checked again by the outbox worker.
        t = TopicOptOut.__table__
        out.append(exists().where(t.c.address == address, t.c.topic == topic))
    return out


def _opted_out(address: Any) -> Any:
    """Some person with this address has opted out of mail (the person model's opt-out checkbox)."""
    other = read.mirror_table("opted")
    return exists().where(other.c.email_key == address, other.c.object_name.in_(read.person_objects()),
                          other.c.is_deleted.is_(False), read.opted_out_clause(other.c))


def _context_json(session: Session, record_id: Any, object_name: str, occurrence: str,
                  campaign_id: str | None) -> Any:
    build = func.jsonb_build_object if session.get_bind().dialect.name == "postgresql" else func.json_object
    return build("record_id", record_id, "object", object_name, "occurrence", occurrence,
                 "campaign_id", campaign_id)


class _Plan:
    """The constant parts of one run's inserts: the enrollment's and the first step's values."""

    def __init__(self, session: Session, run: BroadcastRun, automation: Automation, tz: str) -> None:
        trig = automation.spec["trigger"]
        self.run, self.automation = run, automation
        self.stored, self.seen = _stored_occurrence(automation), occurrence_of(automation)
        self.why = f"一斉配信 {trig['segment']} @ {trig['at']}"[:300]
        self.campaign_id = trig.get("campaign_id")
        step = automation.spec["steps"][0]
        start = datetime.fromisoformat(trig["at"])
        self.due = timing.next_open(timing.after_wait(start, step["wait"], tz), automation.spec.get("window"), tz)
        self.session = session

        self.topic = current_topic_of(automation.spec.get("topic"))

    def enrollments(self, person_id: Any) -> Select[*tuple[Any, ...]]:
        """The enrollment rows of the people `person_id` (a column of the chunk's claimed people)."""
        return select(literal(self.automation.id), person_id, literal(self.stored), person_id, literal("active"),
                      literal(self.why),
                      _context_json(self.session, person_id, self.run.phase, self.seen, self.campaign_id),
                      literal(self.run.started_at)).where(person_id.is_not(None))  # SQLite: a WHERE before ON CONFLICT

    def steps(self, e: Any) -> Select[*tuple[Any, ...]]:
        """The first planned step (bulk lane) of the enrollments `e` (a table or CTE of enrollments)."""
        a = self.automation
        return select(literal(f"{a.key}/0/") + e.c.subject_id + literal(f"/{self.stored}"),
                      literal(a.id), literal(a.version), e.c.id, literal(0), e.c.person_id,
                      literal(BULK_LANE), literal("queued"), literal(self.due), literal(0), literal(""),
                      literal(self.run.started_at)).where(e.c.id.is_not(None))


ENROLLMENT_COLUMNS = ["automation_id", "subject_id", "occurrence", "person_id", "status", "reason", "context",
                      "enrolled_at"]
STEP_COLUMNS = ["plan_key", "automation_id", "automation_version", "enrollment_id", "step_index", "person_id",
                "lane", "status", "due_at", "attempts", "reason", "created_at"]


def _enter(session: Session, run: BroadcastRun, automation: Automation, people: Select[*tuple[Any, ...]],
           tz: str) -> tuple[int, int, int]:
    """Enter the chunk `people` (sf_id, email_key of the segment's chosen records): claim their
    addresses, enroll the records that claimed one and plan their first step, set-based.

    Returns (entered, folded onto another record, left out for an excluded address).
    """
    plan = _Plan(session, run, automation, tz)
    if session.get_bind().dialect.name == "postgresql":
        return _enter_one_statement(session, plan, people)
    return _enter_statements(session, plan, people)


def _chunk_cte(people: Select[*tuple[Any, ...]], topic: str | None) -> Any:
    chunk = people.subquery("chosen")
    return (select(chunk.c.sf_id, chunk.c.email_key, or_(*excluded(chunk.c.email_key, topic)).label("excluded"))
            .where(chunk.c.email_key.is_not(None)).cte("chunk"))


def _claims(run_id: int, chunk: Any) -> Select[*tuple[Any, ...]]:
    # One row per address in this chunk (smallest Id); an address claimed by an earlier chunk or
    # phase stays with its first record (ON CONFLICT DO NOTHING).
    return (select(literal(run_id), chunk.c.email_key, func.min(chunk.c.sf_id))
            .where(chunk.c.excluded.is_(False)).group_by(chunk.c.email_key))


def _enter_one_statement(session: Session, plan: _Plan, people: Select[*tuple[Any, ...]]) -> tuple[int, int, int]:
    """PostgreSQL: the whole chunk in one statement, the inserts chained by data-modifying CTEs
    (the chunk's rows are read once, each person is looked up by its key, nothing comes back but counts)."""
    chunk = _chunk_cte(people, plan.topic)
    a, e, p = table_of(BroadcastAddress), table_of(Enrollment), table_of(PlannedStep)
    claimed = (pg_insert(a).from_select(["run_id", "address", "person_id"], _claims(plan.run.id, chunk))
               .on_conflict_do_nothing().returning(a.c.person_id).cte("claimed"))
    enrolled = (pg_insert(e).from_select(ENROLLMENT_COLUMNS, plan.enrollments(claimed.c.person_id))
                .on_conflict_do_nothing(index_elements=["automation_id", "subject_id", "occurrence"])
                .returning(e.c.id, e.c.subject_id, e.c.person_id).cte("enrolled"))
    planned = (pg_insert(p).from_select(STEP_COLUMNS, plan.steps(enrolled))
               .on_conflict_do_nothing(index_elements=["plan_key"]).returning(p.c.id).cte("planned"))

    def count(source: Any, *where: Any) -> Any:
        return select(func.count()).select_from(source).where(*where).scalar_subquery()

    with_address, excluded_n, claimed_n, entered = session.execute(select(
        count(chunk), count(chunk, chunk.c.excluded.is_(True)), count(claimed), count(planned))).one()
    return entered, max(0, with_address - excluded_n - claimed_n), excluded_n


def _enter_statements(session: Session, plan: _Plan, people: Select[*tuple[Any, ...]]) -> tuple[int, int, int]:
    """SQLite (no INSERT in a WITH): one INSERT … SELECT per table, each joined on a key."""
    chunk = _chunk_cte(people, plan.topic)
    with_address, excluded_n = session.execute(
        select(func.count(), func.count().filter(chunk.c.excluded.is_(True))).select_from(chunk)).one()
    a, e, p = table_of(BroadcastAddress), table_of(Enrollment), table_of(PlannedStep)
    # Counted from RETURNING: the driver's rowcount of INSERT … SELECT is not reliable everywhere.
    claimed_n = len(session.execute(
        sqlite_insert(a).from_select(["run_id", "address", "person_id"], _claims(plan.run.id, chunk))
        .on_conflict_do_nothing().returning(a.c.person_id)).all())
    # The records of this chunk that claimed their address (the address table's primary key).
    chunk = _chunk_cte(people, plan.topic)
    claimed = (select(a.c.person_id).select_from(chunk.join(
        a, and_(a.c.run_id == plan.run.id, a.c.address == chunk.c.email_key, a.c.person_id == chunk.c.sf_id)))
        .subquery("claimed"))
    session.execute(sqlite_insert(e).from_select(ENROLLMENT_COLUMNS, plan.enrollments(claimed.c.person_id))
                    .on_conflict_do_nothing(index_elements=["automation_id", "subject_id", "occurrence"]))
    mine = (select(e).where(e.c.automation_id == plan.automation.id, e.c.occurrence == plan.stored,
                            e.c.subject_id.in_(select(claimed.c.person_id))).subquery("mine"))
    entered = len(session.execute(
        sqlite_insert(p).from_select(STEP_COLUMNS, plan.steps(mine))
        .on_conflict_do_nothing(index_elements=["plan_key"]).returning(p.c.id)).all())
    return entered, max(0, with_address - excluded_n - claimed_n), excluded_n


def plan_chunk(database: Database, run_id: int, chunk_size: int, tz: str = "Asia/Tokyo",
               seg_filter: SegmentFilter | None = None) -> bool:
    """Enter the next chunk of a run in one transaction; False when the run is planned (or busy elsewhere)."""
    with database.transaction() as session:
        if session.get_bind().dialect.name == "postgresql":
            # The chunk and its cursor commit together, so a commit lost in a database crash only
            # means re-entering that chunk; any later synchronous commit (the outbox's) flushes it.
            session.execute(text("SET LOCAL synchronous_commit TO OFF"))
        run = session.scalar(select(BroadcastRun).where(BroadcastRun.id == run_id)
                             .with_for_update(skip_locked=True))
        if run is None or run.status != "planning":
            return False
        automation = session.get(Automation, run.automation_id)
        if automation is None or not automation.enabled:
            run.status, run.finished_at = "planned", run.started_at
            return False
        spec = _segment_spec(session, automation.spec["trigger"]["segment"])
        objects = phases(spec.get("objects"))
        seg_filter = seg_filter or SegmentFilter(session, spec, run.started_at)
        people, last = seg_filter.chunk(session, run.phase, run.cursor, chunk_size) if run.phase else (None, None)
        if people is not None:
            entered, folded, opted = _enter(session, run, automation, people, tz)
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
    return utcnow()


def plan(database: Database, run_id: int, chunk_size: int, tz: str = "Asia/Tokyo",
         budget_seconds: float | None = None) -> bool:
    """Plan chunks of a run until it is planned (False) or the time budget or a stop request ends it (True)."""
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
