"""The generic job queue: enqueue once, claim, finish or retry with back-off."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import insert_for, utcnow
from work.claiming import claim_due, retry_delay_seconds
from work.models import Job


def enqueue(
    session: Session,
    kind: str,
    payload: dict[str, Any] | None = None,
    due_at: datetime | None = None,
    dedupe_key: str | None = None,
    max_attempts: int = 5,
) -> bool:
    """Add a job; with a `dedupe_key` already used, do nothing. Returns True if a job was added."""
    values = {
        "kind": kind,
        "payload": payload or {},
        "due_at": due_at or utcnow(),
        "dedupe_key": dedupe_key,
        "max_attempts": max_attempts,
        "status": "queued",
        "attempts": 0,
        "created_at": utcnow(),
    }
    stmt = (insert_for(session, Job).values(**values).on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(Job.id))
    return session.execute(stmt).scalar() is not None


def claim_jobs(session: Session, worker_id: str, limit: int, lease_seconds: int,
               kinds: Sequence[str] | None = None) -> list[Job]:
    """Claim due jobs for one worker (see work.claiming), only of `kinds` when given.

    Workers pass the kinds they have handlers for, so during a rolling deploy an older worker
    leaves a new kind of job to the newer workers instead of failing it.
    """
    extra = (Job.kind.in_(list(kinds)),) if kinds is not None else ()
    return claim_due(session, Job, worker_id, limit, lease_seconds, extra_where=extra)


def finish(job: Job) -> None:
    """Mark a claimed job done."""
    job.status = "done"
    job.finished_at = utcnow()
    job.locked_by = None
    job.locked_until = None


def requeue(job: Job) -> None:
    """Put a job that stopped early with work left back in the queue, due now; not an attempt."""
    job.status = "queued"
    job.due_at = utcnow()
    job.attempts = max(0, job.attempts - 1)
    job.locked_by = None
    job.locked_until = None


def fail(job: Job, error: str) -> None:
    """Record a failure: retry later with back-off, or give up after max_attempts ('dead')."""
    job.last_error = error[:4000]
    job.locked_by = None
    job.locked_until = None
    if job.attempts >= job.max_attempts:
        job.status = "dead"
        job.finished_at = utcnow()
    else:
        job.status = "queued"
        job.due_at = utcnow() + timedelta(seconds=retry_delay_seconds(job.attempts))


def depth(session: Session) -> int:
    """Jobs waiting or running (for /healthz)."""
    from sqlalchemy import func

    return session.scalar(select(func.count()).select_from(Job).where(Job.status.in_(("queued", "running")))) or 0
