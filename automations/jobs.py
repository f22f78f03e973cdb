"""Worker and clock entry points of the automations package (each runs inside an app context).

- work source `automations.events`: change events and form submissions → enrollments;
- work source `automations.steps`: due planned steps → mail, write-backs, next steps;
- job `automations.tick` (every 30 s from work/schedule.py): date-relative triggers and broadcasts.
Each batch is one transaction, so a crash loses nothing and repeats nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app

from automations import engine, triggers
from db import get_db, utcnow


def runtime(now: datetime | None = None) -> engine.Runtime:
    """A Runtime from the current app's settings at `now` (default: the real clock)."""
    settings = current_app.config["TSUNAGI"]
    return engine.Runtime(now=now or utcnow(), tz=settings.timezone,
                          max_attempts=settings.automations_max_attempts,
                          lease_seconds=settings.worker_lease_seconds)


def process_events(worker_id: str, now: datetime | None = None) -> int:
    """Evaluate one batch of change events and one of form submissions; returns how many were handled."""
    settings = current_app.config["TSUNAGI"]
    database = get_db()
    with database.transaction() as session:
        done = triggers.process_change_events(session, runtime(now), limit=settings.automations_event_batch)
    with database.transaction() as session:
        done += triggers.process_form_submissions(session, runtime(now))
    return done


def run_steps(worker_id: str, now: datetime | None = None) -> int:
    """Run one batch of due planned steps."""
    settings = current_app.config["TSUNAGI"]
    with get_db().transaction() as session:
        return engine.run_due_steps(session, runtime(now), worker_id, settings.automations_step_batch)


def tick(payload: dict[str, Any] | None = None, now: datetime | None = None) -> int:
    """Plan date-relative triggers and due broadcasts (the clock's `automations.tick`)."""
    with get_db().transaction() as session:
        rt = runtime(now)
        return triggers.plan_date_triggers(session, rt) + triggers.plan_broadcasts(session, rt)


def run_all_once(worker_id: str = "automations-cli", now: datetime | None = None) -> int:
    """Tick, then drain events and due steps (for tests, scripts and `flask automations run`)."""
    total = tick(now=now)
    while (n := process_events(worker_id, now) + run_steps(worker_id, now)) > 0:
        total += n
    return total
