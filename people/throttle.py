"""Login rate limiting per email and client address.

Five failed sign-ins for the same email from the same address within 15 minutes block that
pair for 15 minutes; a successful sign-in clears the count. Per pair (not per email) so that
someone guessing cannot lock a colleague out from every other desk.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from db import insert_for, utcnow
from people.models import LoginThrottle

MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)
BLOCK = timedelta(minutes=15)


def throttle_key(email: str, address: str) -> str:
    """The row key of an (email, client address) pair."""
    return hashlib.sha256(f"{email.strip().lower()}|{address}".encode()).hexdigest()


def blocked_until(session: Session, email: str, address: str, now: datetime | None = None) -> datetime | None:
    """When the pair may try again, or None when it may try now."""
    row = session.get(LoginThrottle, throttle_key(email, address))
    now = now or utcnow()
    if row is not None and row.blocked_until is not None and row.blocked_until > now:
        return row.blocked_until
    return None


def record_failure(session: Session, email: str, address: str, now: datetime | None = None) -> None:
    """Count one failed sign-in; block the pair once it reaches MAX_FAILURES within WINDOW."""
    now = now or utcnow()
    key = throttle_key(email, address)
    # Insert-if-missing then lock the row, so two concurrent failures both count.
    session.execute(insert_for(session, LoginThrottle).values(key=key, failures=0, window_started_at=now)
                    .on_conflict_do_nothing())
    row = session.get(LoginThrottle, key, with_for_update=True, populate_existing=True)
    assert row is not None
    if row.window_started_at < now - WINDOW:
        row.failures, row.window_started_at, row.blocked_until = 0, now, None
    row.failures += 1
    if row.failures >= MAX_FAILURES:
        row.blocked_until = now + BLOCK


def clear(session: Session, email: str, address: str) -> None:
    """Forget the failures of a pair after a successful sign-in."""
    row = session.get(LoginThrottle, throttle_key(email, address))
    if row is not None:
        session.delete(row)
