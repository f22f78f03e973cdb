"""Recording activity (call inside the caller's transaction)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from activity.models import KINDS, Activity
from db import utcnow


def record_activity(
    session: Session,
    kind: str,
    person_id: str | None = None,
    details: dict[str, Any] | None = None,
    visitor_id: str | None = None,
    occurred_at: datetime | None = None,
) -> Activity:
    """Add one activity row in the caller's transaction and return it."""
    if kind not in KINDS:
        raise ValueError(f"unknown activity kind {kind!r}")
    row = Activity(kind=kind, person_id=person_id, visitor_id=visitor_id,
                   occurred_at=occurred_at or utcnow(), details=details or {})
    session.add(row)
    return row
