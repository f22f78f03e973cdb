"""Scoring's progress through the activity table and the change events, kept in its own tables.

`ScoringCursor` rows say how far scoring has read each feed; `ScoringQueue` holds the activities
taken in and not scored yet (activity.feed explains the take-in and why it is gap-safe).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from activity import feed
from scoring.models import ScoringCursor, ScoringQueue

ACTIVITIES = "activities"
CHANGE_EVENTS = "change_events"


def cursor(session: Session, consumer: str = ACTIVITIES, lock: str = "") -> ScoringCursor | None:
    """Scoring's cursor over `consumer`'s feed (see activity.feed.cursor_row for `lock`)."""
    row: ScoringCursor | None = feed.cursor_row(session, ScoringCursor, consumer, lock)
    return row


def take_in(session: Session) -> int:
    """Queue the activities committed since the last take-in; 0 while another worker is taking in."""
    row = cursor(session, lock="skip")
    return feed.take_in(session, row, ScoringQueue) if row is not None else 0


def scored(session: Session) -> ColumnElement[bool]:
    """Activities scoring has handled (taken in, no longer queued)."""
    return feed.handled(_read(session), ScoringQueue)


def requeue(session: Session, activity_ids: Iterable[int]) -> None:
    """Put activities back in scoring's queue (their person became known after they were scored)."""
    feed.requeue(session, _read(session), ScoringQueue, activity_ids)


def unscored(session: Session) -> int:
    """Activities scoring has still to handle."""
    return feed.pending(session, _read(session), ScoringQueue)


def _read(session: Session) -> ScoringCursor:
    """The activity cursor as committed (read only: (0, 0) before scoring first ran)."""
    return session.get(ScoringCursor, ACTIVITIES) or ScoringCursor(consumer=ACTIVITIES, txid=0, last_id=0)
