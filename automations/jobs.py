"""Worker and clock entry points of the automations package (each runs inside an app context).

- work source `automations.events`: change events and form submissions → enrollments;
- work source `automations.steps`: due planned steps → mail, write-backs, next steps;
- job `automations.tick` (every 30 s from work/schedule.py): date-relative triggers, broadcasts started;
- job `automations.broadcast`: one broadcast entered in committed chunks (automations.broadcasts).
Each batch is one transaction, so a crash loses nothing and repeats nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from automations import engine, triggers
from config import settings_of
from db import get_db, utcnow
from work.models import Job
from work.queue import enqueue
from work.running import CONTINUE


def runtime(now: datetime | None = None) -> engine.Runtime:
    """A Runtime from the current app's settings at `now` (default: the real clock)."""
    settings = settings_of()
    return engine.Runtime(now=now or utcnow(), tz=settings.timezone,
                          max_attempts=settings.automations_max_attempts,
                          lease_seconds=settings.worker_lease_seconds,
                          frequency_cap=settings.mail_frequency_cap_per_day)


def process_events(worker_id: str, now: datetime | None = None) -> int:
    """Evaluate one batch of change events and one of form submissions; returns how many were handled."""
    settings = settings_of()
    database = get_db()
    with database.transaction() as session:
        done = triggers.process_change_events(session, runtime(now), limit=settings.automations_event_batch)
    with database.transaction() as session:
        done += triggers.process_form_submissions(session, runtime(now))
    return done


def run_steps(worker_id: str, now: datetime | None = None) -> int:
    """Run one batch of due planned steps."""
    settings = settings_of()
    with get_db().transaction() as session:
        return engine.run_due_steps(session, runtime(now), worker_id, settings.automations_step_batch)


def run_urgent(worker_id: str) -> int:
    """Between every work source (work.register_urgent_source): new change events and steps that
    answer one person (lane 0), so a 不在 follow-up is not held up by a broadcast's batches."""
    settings = settings_of()
    database = get_db()
    with database.transaction() as session:
        done = triggers.process_change_events(session, runtime(), limit=settings.automations_event_batch)
    with database.transaction() as session:
        done += engine.run_due_steps(session, runtime(), worker_id, settings.automations_step_batch, lanes=(0,))
    return done


def tick(payload: dict[str, Any] | None = None, now: datetime | None = None) -> int:
    """Plan date-relative triggers and start due broadcasts (the clock's `automations.tick`).

    A broadcast is planned by its own `automations.broadcast` job in committed chunks, so the
    tick stays short and the next ticks are not stuck behind a million people.
    """
    with get_db().transaction() as session:
        rt = runtime(now)
        entered = triggers.plan_date_triggers(session, rt)
        for run_id in triggers.plan_broadcasts(session, rt):
            _enqueue_broadcast(session, run_id, rt.now)
        return entered


def _enqueue_broadcast(session: Any, run_id: int, now: datetime) -> None:
    """One `automations.broadcast` job per planning run at a time (a dead one is replaced on a later tick)."""
    from sqlalchemy import select

    prefix = f"automations.broadcast:{run_id}:"
    alive = session.scalar(select(Job.id).where(Job.dedupe_key.like(prefix + "%"),
                                                Job.status.in_(("queued", "running"))).limit(1))
    if alive is None:
        enqueue(session, "automations.broadcast", {"run_id": run_id}, dedupe_key=f"{prefix}{int(now.timestamp())}",
                max_attempts=20)


def plan_broadcast(payload: dict[str, Any]) -> str | None:
    """Job `automations.broadcast`: enter chunks of one broadcast for a time slice, then let other work run.

    Returns work.running.CONTINUE while people are left, so the job is queued again at once
    (any worker carries on from the last committed chunk).
    """
    from automations.broadcasts import plan

    settings = settings_of()
    more = plan(get_db(), int(payload["run_id"]), settings.automations_broadcast_chunk, settings.timezone,
                budget_seconds=settings.automations_broadcast_slice_seconds)
    return CONTINUE if more else None


def run_all_once(worker_id: str = "automations-cli", now: datetime | None = None) -> int:
    """Tick, plan started broadcasts to the end, then drain events and due steps (tests, scripts,
    `flask automations run`)."""
    from automations.broadcasts import plan

    total = tick(now=now)
    settings = settings_of()
    with get_db().transaction() as session:
        runs = triggers.plan_broadcasts(session, runtime(now))
    for run_id in runs:
        plan(get_db(), run_id, settings.automations_broadcast_chunk, settings.timezone)
    while (n := process_events(worker_id, now) + run_steps(worker_id, now)) > 0:
        total += n
    return total
