"""Claim due rows of any ClaimableMixin table for one worker, safely under concurrency.

On PostgreSQL the candidates are locked with `FOR UPDATE SKIP LOCKED`, so many workers on many
machines each get different rows without waiting on each other. On SQLite there is a single
writer (transactions start with BEGIN IMMEDIATE), which gives the same guarantee.
A claimed row is 'running' with a lease; if its worker dies, the lease expires and the row is
due again, so nothing claimed is ever lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from db import utcnow

T = TypeVar("T")


def due_condition(model: Any, now: Any) -> Any:
    """Rows ready to run now: queued and due, or running with an expired lease."""
    return or_(
        and_(model.status == "queued", model.due_at <= now),
        and_(model.status == "running", model.locked_until < now),
    )


def claim_due(
    session: Session,
    model: type[T],
    worker_id: str,
    limit: int,
    lease_seconds: int,
    extra_where: Sequence[Any] = (),
) -> list[T]:
    """Mark up to `limit` due rows of `model` as running for `worker_id` and return them.

    The caller must commit the session promptly so the claim becomes visible to other workers.
    """
    now = utcnow()
    m: Any = model
    candidates = (
        select(m.id)
        .where(due_condition(m, now), *extra_where)
        .order_by(m.due_at, m.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list(session.scalars(candidates))
    if not ids:
        return []
    session.execute(
        update(m)
        .where(m.id.in_(ids))
        .values(
            status="running",
            locked_by=worker_id,
            locked_until=now + timedelta(seconds=lease_seconds),
            attempts=m.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )
    return list(session.scalars(select(m).where(m.id.in_(ids)).order_by(m.due_at, m.id)
                                .execution_options(populate_existing=True)))


def retry_delay_seconds(attempts: int, base: float = 5.0, cap: float = 3600.0) -> float:
    """Exponential back-off: 5 s, 10 s, 20 s … capped at an hour."""
    return min(cap, base * (2 ** max(0, attempts - 1)))
