"""Housekeeping of the people package."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import delete, or_

from db import get_db, utcnow
from people.models import LoginThrottle
from people.throttle import WINDOW


def cleanup(_payload: dict[str, object]) -> None:
    """`people.cleanup` (hourly): forget failed sign-ins whose window and block have both passed."""
    now = utcnow()
    with get_db(current_app).transaction() as session:
        session.execute(delete(LoginThrottle).where(
            LoginThrottle.window_started_at < now - WINDOW,
            or_(LoginThrottle.blocked_until.is_(None), LoginThrottle.blocked_until < now),
        ))
