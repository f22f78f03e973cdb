"""Entering automations and running planned steps, exactly once.

- `enroll()` is called by every trigger. The enrollment row is unique per (automation, subject,
  occurrence) and inserted with ON CONFLICT DO NOTHING, so the same change seen twice (poll and
  outbound message, two workers, a replayed batch) enters once. The first step is planned in the
  same transaction.
- `run_due_steps()` claims due steps with a lease (as `work.claiming.claim_due`), runs each inside
  a savepoint and commits the batch: the step's status, the mail in the outbox (send key = plan
  key), the write-backs (idempotency key = plan key + action) and the next planned step land
  together or not at all. A worker killed mid-batch commits nothing; its lease expires and
  another worker runs the same steps again, which is safe for the same reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from automations import actions, timing
from automations.conditions import MirrorView, Record, check_value, describe
from automations.models import Automation, AutomationRun, Enrollment, PlannedStep
from automations.queries import (
    insert_ignoring_duplicates,
    insert_many_ignoring_duplicates,
    latest_enrollment,
    pending_steps_of,
)
from db import rows_matched, table_of, utcnow
from mail.outbox import enqueue_mails
from sync import read
from work.claiming import claim_due, retry_delay_seconds

log = logging.getLogger(__name__)

# Triggers that enter many people at once: their steps and mail go in the bulk lane.
BULK_TRIGGERS = ("broadcast", "date_relative")


@dataclass
class Runtime:
    """What evaluation needs besides the database: the clock, the time zone and limits."""

    now: datetime
    tz: str = "Asia/Tokyo"
    max_attempts: int = 5
    lease_seconds: int = 120
    # Marketing mails one address may get in 24 hours across automations and broadcasts (0: no cap).
    frequency_cap: int = 0
    # While a bulk batch runs (run_due_steps), mails are collected here and queued in one insert.
    mail_buffer: list[dict[str, Any]] | None = None
    # While a bulk batch runs: who entered each of the batch's records on a form (actions.recorded_by_many).
    recorded: dict[str, dict[str, str]] | None = None
    view_cache: dict[int, MirrorView] = field(default_factory=dict)

    def clock(self) -> datetime:
        """The real time: the outbox stamps rows with it, so the frequency cap counts on it."""
        return utcnow()

    def view(self, session: Session) -> MirrorView:
        """The mirror cache of this session."""
        key = id(session)
        if key not in self.view_cache:
            self.view_cache[key] = MirrorView(session)
        return self.view_cache[key]


def history(session: Session, automation_id: int, outcome: str, reason: str = "", *, enrollment_id: int | None = None,
            step_index: int | None = None, record_id: str | None = None, person_id: str | None = None,
            details: dict[str, Any] | None = None, now: datetime | None = None) -> None:
    """Add one history row (what happened, and why)."""
    row = dict(automation_id=automation_id, enrollment_id=enrollment_id, step_index=step_index,
               record_id=record_id, person_id=person_id, outcome=outcome, reason=reason[:2000],
               details=details or {}, occurred_at=now or utcnow())
    buffer = session.info.get(HISTORY_BUFFER)
    if buffer is not None:
        buffer.append(row)  # a bulk batch: inserted with the others when it ends (_run_together)
    else:
        session.add(AutomationRun(**row))


# session.info key of the history rows a bulk batch collects (inserted at once, without RETURNING ids).
HISTORY_BUFFER = "tsunagi.automations.history_buffer"


def plan_key(automation: Automation, step_index: int, subject_id: str, occurrence: str) -> str:
    """The exactly-once key of one planned step: automation / step / subject / occurrence."""
    return f"{automation.key}/{step_index}/{subject_id}/{occurrence}"[:300]


def _step_row(rt: Runtime, automation: Automation, enrollment_id: int, subject_id: str, occurrence: str,
              person_id: str | None, step_index: int, base: datetime) -> dict[str, Any]:
    """The planned_steps row of one step, due after its wait and inside the send window."""
    spec = automation.spec
    step = spec["steps"][step_index]
    due = timing.next_open(timing.after_wait(base, step["wait"], rt.tz), spec.get("window"), rt.tz)
    return {
        "plan_key": plan_key(automation, step_index, subject_id, occurrence),
        "automation_id": automation.id, "automation_version": automation.version,
        "enrollment_id": enrollment_id, "step_index": step_index, "person_id": person_id,
        "status": "queued", "due_at": due, "attempts": 0, "reason": "", "created_at": rt.now,
        "lane": 1 if spec["trigger"]["type"] in BULK_TRIGGERS else 0,
    }


def _history_planned(session: Session, rt: Runtime, automation: Automation, row: dict[str, Any],
                     subject_id: str) -> None:
    step = automation.spec["steps"][row["step_index"]]
    due = row["due_at"].astimezone(ZoneInfo(rt.tz))  # people read the history in local time
    history(session, automation.id, "planned", f"{step['name']} @ {due:%Y-%m-%d %H:%M %Z}",
            enrollment_id=row["enrollment_id"], step_index=row["step_index"], record_id=subject_id,
            person_id=row["person_id"], now=rt.now)


def _plan_step(session: Session, rt: Runtime, automation: Automation, enrollment_id: int, subject_id: str,
               occurrence: str, person_id: str | None, step_index: int, base: datetime) -> bool:
    row = _step_row(rt, automation, enrollment_id, subject_id, occurrence, person_id, step_index, base)
    new_id = insert_ignoring_duplicates(session, PlannedStep, row, ["plan_key"])
    if new_id is not None:
        _history_planned(session, rt, automation, row, subject_id)
    return new_id is not None


def _reentry_rule(automation: Automation) -> dict[str, Any]:
    return automation.spec.get("reentry") or {"rule": "never"}


def subject_of(view: MirrorView, automation: Automation, record: Record) -> tuple[str, str | None]:
    """(subject id, person id) of `record` entering `automation`: the record, or its person."""
    person_id = view.person_id_of(record)
    return (person_id if automation.spec.get("subject") == "person" and person_id else record.id), person_id


def reentry_refused(automation: Automation, previous: Enrollment | None, occurrence: str, now: datetime) -> bool:
    """True when the re-entry rule keeps a subject whose latest entry is `previous` out of a new occurrence.

    The one rule `enroll` applies and the dry run shows.
    """
    reentry = _reentry_rule(automation)
    if previous is None or previous.context.get("occurrence", previous.occurrence) == occurrence:
        return False
    return reentry["rule"] == "never" or (
        reentry["rule"] == "after_days" and previous.enrolled_at > now - timedelta(days=reentry["days"]))


def _enrollment_row(rt: Runtime, view: MirrorView, automation: Automation, record: Record, occurrence: str,
                    seen: str, why: str, extra: dict[str, Any] | None) -> dict[str, Any]:
    """The enrollments row of `record` entering `automation` (subject: the record, or its person)."""
    subject_id, person_id = subject_of(view, automation, record)
    return {
        "automation_id": automation.id, "subject_id": subject_id, "occurrence": occurrence[:100],
        "person_id": person_id, "status": "active", "reason": why[:300],
        "context": {"record_id": record.id, "object": record.object_name, "occurrence": seen, **(extra or {})},
        "enrolled_at": rt.now,
    }


ENROLLMENT_KEY = ["automation_id", "subject_id", "occurrence"]


def enroll(session: Session, rt: Runtime, automation: Automation, record: Record, *, occurrence: str, why: str,
           start_at: datetime | None = None, extra: dict[str, Any] | None = None) -> int | None:
    """Enter `record` into `automation` once per occurrence (respecting re-entry); returns the enrollment id.

    Conditions must already hold. `start_at` is when the first wait starts (default now).
    """
    reentry = _reentry_rule(automation)
    # "never" stores one fixed occurrence, so the unique key itself forbids a second entry even
    # when two workers race; the seen occurrence is kept in the context to tell a replay apart.
    stored = "once" if reentry["rule"] == "never" else occurrence
    row = _enrollment_row(rt, rt.view(session), automation, record, stored, occurrence, why, extra)
    subject_id, person_id = row["subject_id"], row["person_id"]
    # "always" lets every new occurrence in: no need to look at the previous entry.
    previous = session.scalar(latest_enrollment(automation.id, subject_id)) if reentry["rule"] != "always" else None
    if reentry_refused(automation, previous, occurrence, rt.now):
        history(session, automation.id, "not_entered", f"再登録ルール（{reentry['rule']}）により対象外: {why}",
                record_id=subject_id, person_id=person_id, now=rt.now)
        return None
    enrollment_id = insert_ignoring_duplicates(session, Enrollment, row, ENROLLMENT_KEY)
    if enrollment_id is None:
        # The same occurrence again (a change seen twice): already entered, nothing to do.
        return None
    history(session, automation.id, "fired", why, enrollment_id=enrollment_id, record_id=record.id,
            person_id=person_id, now=rt.now)
    _plan_step(session, rt, automation, enrollment_id, subject_id, stored, person_id, 0, start_at or rt.now)
    return enrollment_id


@dataclass
class Entry:
    """One record about to enter one automation (its conditions already hold)."""

    automation: Automation
    record: Record
    occurrence: str
    why: str
    start_at: datetime | None = None
    extra: dict[str, Any] | None = None


def enroll_many(session: Session, rt: Runtime, entries: list[Entry]) -> int:
    """`enroll()` for many entries at once; returns how many entered.

    Entries of automations with `reentry: always` are written with two multi-row statements (the
    enrollments, then their first steps), each ON CONFLICT DO NOTHING on the same unique keys as
    `enroll()`, so the same change twice — in this batch or an earlier one — still enters once.
    Other re-entry rules read the subject's previous entry first and go through `enroll()`.
    """
    batched: list[Entry] = []
    entered = 0
    for e in entries:
        if _reentry_rule(e.automation)["rule"] == "always":
            batched.append(e)
        else:
            entered += enroll(session, rt, e.automation, e.record, occurrence=e.occurrence, why=e.why,
                              start_at=e.start_at, extra=e.extra) is not None
    if not batched:
        return entered
    view = rt.view(session)
    rows = [_enrollment_row(rt, view, e.automation, e.record, e.occurrence, e.occurrence, e.why, e.extra)
            for e in batched]
    new_ids = {(r.automation_id, r.subject_id, r.occurrence): r.id
               for r in insert_many_ignoring_duplicates(session, Enrollment, rows, ENROLLMENT_KEY)}
    steps: list[tuple[Automation, str, dict[str, Any]]] = []
    for e, row in zip(batched, rows, strict=True):
        enrollment_id = new_ids.pop((row["automation_id"], row["subject_id"], row["occurrence"]), None)
        if enrollment_id is None:
            continue  # entered before (a change seen twice): nothing to do
        history(session, e.automation.id, "fired", e.why, enrollment_id=enrollment_id, record_id=e.record.id,
                person_id=row["person_id"], now=rt.now)
        steps.append((e.automation, row["subject_id"],
                      _step_row(rt, e.automation, enrollment_id, row["subject_id"], e.occurrence,
                                row["person_id"], 0, e.start_at or rt.now)))
    planned = {r.plan_key for r in insert_many_ignoring_duplicates(session, PlannedStep, [s for _a, _s, s in steps],
                                                                   ["plan_key"])} if steps else set()
    for automation, subject_id, step_row in steps:
        if step_row["plan_key"] in planned:
            _history_planned(session, rt, automation, step_row, subject_id)
    return entered + len(steps)


def _exit_reason(session: Session, rt: Runtime, automation: Automation, enrollment: Enrollment) -> str | None:
    spec = automation.spec.get("exit") or {}
    view = rt.view(session)
    record = view.get(enrollment.context.get("record_id"))
    person = view.get(enrollment.person_id)
    if person is not None and spec.get("unsubscribed", True) and read.opted_out(person.object_name, person.fields):
        return f"配信停止（{read.opt_out_field(person.object_name)}）"
    if person is not None and spec.get("lead_converted") and read.is_converted(person.object_name, person.fields):
        return "リードが取引開始済み（IsConverted）"
    if spec.get("form_submitted") and enrollment.person_id and actions.form_submitted_since(
            session, enrollment.person_id, spec["form_submitted"], enrollment.enrolled_at):
        return f"ゴール達成: フォーム「{spec['form_submitted']}」送信"
    if record is not None:
        for cond in spec.get("conditions") or []:
            if check_value(cond["op"], view.resolve(record, cond["field"]), cond.get("value")):
                return f"終了条件: {describe(cond)}"
    return None


def _finish_step(session: Session, rt: Runtime, automation: Automation, enrollment: Enrollment,
                 step: PlannedStep, status: str, reason: str) -> None:
    step.status = status
    step.reason = reason[:300]
    step.done_at = rt.now
    step.locked_by = None
    step.locked_until = None
    history(session, automation.id, status, reason, enrollment_id=enrollment.id, step_index=step.step_index,
            record_id=enrollment.subject_id, person_id=enrollment.person_id, now=rt.now)


def exit_enrollment(session: Session, rt: Runtime, automation: Automation, enrollment: Enrollment,
                    reason: str) -> None:
    """End an enrollment early: every pending step becomes 'exited' with the reason."""
    enrollment.status = "exited"
    enrollment.reason = reason[:300]
    enrollment.ended_at = rt.now
    for step in session.scalars(pending_steps_of(enrollment.id)):
        _finish_step(session, rt, automation, enrollment, step, "exited", reason)


def run_step(session: Session, rt: Runtime, step: PlannedStep) -> str:
    """Run one claimed step; returns its new status (queued when deferred to the send window)."""
    automation = session.get(Automation, step.automation_id)
    enrollment = session.get(Enrollment, step.enrollment_id)
    assert automation is not None and enrollment is not None
    if not automation.enabled:
        _finish_step(session, rt, automation, enrollment, step, "skipped", "オートメーションが無効です")
        return "skipped"
    if enrollment.status != "active":
        _finish_step(session, rt, automation, enrollment, step, "exited", enrollment.reason or "終了済み")
        return "exited"
    reason = _exit_reason(session, rt, automation, enrollment)
    if reason:
        exit_enrollment(session, rt, automation, enrollment, reason)
        return "exited"
    window = automation.spec.get("window")
    if not timing.in_window(rt.now, window, rt.tz):
        step.status, step.locked_by, step.locked_until = "queued", None, None
        step.due_at = timing.next_open(rt.now, window, rt.tz)
        return "queued"
    spec_step = automation.spec["steps"][step.step_index]
    outcomes = actions.run_actions(session, rt, automation, enrollment, step, spec_step["actions"])
    done = [o for o in outcomes if o.done]
    status = "sent" if done else "skipped"
    summary = "; ".join(o.describe() for o in outcomes)
    _finish_step(session, rt, automation, enrollment, step, status, summary)
    next_index = step.step_index + 1
    if next_index < len(automation.spec["steps"]):
        _plan_step(session, rt, automation, enrollment.id, enrollment.subject_id, enrollment.occurrence,
                   enrollment.person_id, next_index, rt.now)
    else:
        enrollment.status = "finished"
        enrollment.ended_at = rt.now
    return status


def _fail(session: Session, rt: Runtime, step: PlannedStep, error: str) -> None:
    step.last_error = error[:4000]
    step.locked_by = None
    step.locked_until = None
    if step.attempts >= rt.max_attempts:
        automation = session.get(Automation, step.automation_id)
        enrollment = session.get(Enrollment, step.enrollment_id)
        assert automation is not None and enrollment is not None
        _finish_step(session, rt, automation, enrollment, step, "failed", error.splitlines()[-1][:300])
    else:
        step.status = "queued"
        step.due_at = rt.now + timedelta(seconds=retry_delay_seconds(step.attempts))


def claim_steps(session: Session, rt: Runtime, worker_id: str, limit: int,
                lanes: tuple[int, ...] = (0, 1)) -> list[PlannedStep]:
    """Claim up to `limit` steps due at `rt.now`: work.claiming's rule on the runtime's clock.

    Steps answering one person (lane 0) first, then bulk ones: a 不在 follow-up planned while a
    million broadcast steps are due waits for one batch, not for the broadcast.
    """
    steps: list[PlannedStep] = []
    for lane in lanes:
        if len(steps) < limit:
            steps += claim_due(session, PlannedStep, worker_id, limit - len(steps), rt.lease_seconds, now=rt.now,
                               extra_where=(PlannedStep.lane == lane,))
    return steps


def run_due_steps(session: Session, rt: Runtime, worker_id: str, limit: int,
                  lanes: tuple[int, ...] = (0, 1)) -> int:
    """Claim up to `limit` due steps and run them in this transaction (the caller commits).

    Each step runs inside a savepoint, so one failing step does not undo the batch. A batch of
    bulk steps (a broadcast) first runs under one savepoint with its mail queued in one multi-row
    insert at the end: a savepoint and an insert per step cost more than the step itself. If any
    step of it fails, that savepoint is rolled back and the batch is run again step by step.
    """
    steps = claim_steps(session, rt, worker_id, limit, lanes)
    if not steps:
        return 0
    # Load the batch's automations, enrollments and mirror records in three queries, not per step.
    # Kept referenced until the batch ends: the session's identity map holds objects weakly, and
    # an automation nobody referenced was loaded again by every step's session.get.
    _automations = list(session.scalars(select(Automation).where(Automation.id.in_({s.automation_id for s in steps}))))
    enrollments = list(session.scalars(select(Enrollment).where(Enrollment.id.in_({s.enrollment_id for s in steps}))))
    rt.view(session).load([e.context.get("record_id") for e in enrollments] + [e.person_id for e in enrollments])
    if len(steps) > 1 and all(s.lane == 1 for s in steps) and _run_together(session, rt, steps):
        return len(steps)
    for step in steps:
        try:
            with session.begin_nested():
                run_step(session, rt, step)
        except Exception as exc:
            log.exception("automation step %s failed", step.plan_key)
            session.refresh(step)
            _fail(session, rt, step, f"{type(exc).__name__}: {exc}")
    return len(steps)


def _run_together(session: Session, rt: Runtime, steps: list[PlannedStep]) -> bool:
    """Run bulk steps under one savepoint, their mail queued at once; False (nothing kept) if one fails."""
    rt.mail_buffer = []
    enrollments = [session.get(Enrollment, s.enrollment_id) for s in steps]
    rt.recorded = actions.recorded_by_many(session, [e.context.get("record_id") for e in enrollments if e])
    buffer: list[dict[str, Any]] = []
    session.info[HISTORY_BUFFER] = buffer
    try:
        with session.begin_nested():
            with session.no_autoflush:
                for step in steps:
                    run_step(session, rt, step)
            enqueue_mails(session, rt.mail_buffer)
            if buffer:
                # Core executemany: the ORM would ask for every row's id back (a statement with
                # thousands of parameters, parsed anew by the driver for every batch).
                session.execute(insert(table_of(AutomationRun)), buffer)
    except Exception:
        log.warning("a bulk step batch failed; running its steps one by one", exc_info=True)
        for step in steps:
            session.refresh(step)
        return False
    finally:
        rt.mail_buffer = None
        rt.recorded = None
        session.info.pop(HISTORY_BUFFER, None)
    return True


def cancel_pending(session: Session, automation: Automation, reason: str, now: datetime) -> int:
    """Mark every planned step of an automation skipped (used when it is deleted)."""
    return rows_matched(session,
        update(PlannedStep).where(PlannedStep.automation_id == automation.id, PlannedStep.status == "queued")
        .values(status="skipped", reason=reason[:300], done_at=now).execution_options(synchronize_session=False))


def enrollment_of(session: Session, enrollment_id: int) -> Enrollment | None:
    """One enrollment by id."""
    return session.scalar(select(Enrollment).where(Enrollment.id == enrollment_id))
