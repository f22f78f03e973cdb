"""Housekeeping jobs of the work package."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select

from db import get_db, utcnow
from work.models import Job

DONE_JOBS_KEPT = timedelta(days=7)
DELETE_BATCH = 5_000


def cleanup(_payload: dict[str, object]) -> None:
    """`work.cleanup` (hourly): delete jobs finished successfully more than 7 days ago.

    Dead jobs stay for an admin to read. Deletes go in batches, each its own transaction, so a
    backlog of millions never holds one long lock on the queue the workers are claiming from.
    """
    cutoff = utcnow() - DONE_JOBS_KEPT
    database = get_db(current_app)
    while True:
        with database.transaction() as session:
            ids = list(session.scalars(select(Job.id).where(Job.status == "done", Job.finished_at < cutoff)
                                       .order_by(Job.id).limit(DELETE_BATCH)))
            if ids:
                session.execute(delete(Job).where(Job.id.in_(ids)).execution_options(synchronize_session=False))
        if len(ids) < DELETE_BATCH:
            return
