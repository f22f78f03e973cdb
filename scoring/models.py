"""Tables of the scoring package.

- `ScoringModel`: the admin's scoring model (the YAML document, parsed), one active row.
- `ScoreEvent`: the points ledger — one row per scored activity (unique per activity, so an
  activity is never scored twice); the points come from the *current* model by rule name, so a
  changed model applies to history on the next rescore.
- `PersonScore`: the current behaviour, fit and total score and stage of one Lead/Contact, plus
  the bookkeeping for threshold crossings and debounced write-back to Salesforce.
- `ScoreHistory`: every change of a person's total score with its reason.
- `ScoreThresholdCrossed`: a durable event per upward crossing of a threshold.
- `TrackingVisitor`: first-party web visitor id → known person.
- `ScoringCursor`: how far scoring has read the activity table and the change events.
- `ScoringQueue`: the activities taken in and not scored yet (activity.feed).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from activity.models import ConsumerCursorMixin, ConsumerQueueMixin
from db import Base, BigId, utcnow


class ScoringModel(Base):
    """The scoring model in force (key 'active'); `version` grows with every import."""

    __tablename__ = "scoring_models"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(default=dict)
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(254), default="")


class ScoreEvent(Base):
    """Points earned by one activity under a named behaviour rule."""

    __tablename__ = "score_events"
    __table_args__ = (Index("ix_score_events_person", "person_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[str] = mapped_column(String(18))
    rule: Mapped[str] = mapped_column(String(64))
    activity_id: Mapped[int | None] = mapped_column(BigId, unique=True)
    occurred_at: Mapped[datetime]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class PersonScore(Base):
    """The score and stage of one Lead or Contact (person_id is its Salesforce Id)."""

    __tablename__ = "person_scores"
    __table_args__ = (
        Index("ix_person_scores_pending", "pending_since"),
        Index("ix_person_scores_stage", "stage"),
    )

    person_id: Mapped[str] = mapped_column(String(18), primary_key=True)
    object_name: Mapped[str] = mapped_column(String(16))
    behaviour: Mapped[int] = mapped_column(default=0)
    fit: Mapped[int] = mapped_column(default=0)
    score: Mapped[int] = mapped_column(default=0)
    # The score before the latest rescore: crossings and history compare it with `score`.
    previous_score: Mapped[int] = mapped_column(default=0)
    stage: Mapped[str] = mapped_column(String(64), default="")
    # Grows with every change of `score`; write-back keys use it so each value is sent once.
    version: Mapped[int] = mapped_column(default=0)
    written_version: Mapped[int] = mapped_column(default=0)
    written_score: Mapped[int | None]
    # Set when an unsent change appears; the batch window starts here (debounce).
    pending_since: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScoreHistory(Base):
    """One change of a person's total score and why it changed."""

    __tablename__ = "score_history"
    __table_args__ = (Index("ix_score_history_person", "person_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[str] = mapped_column(String(18))
    score_before: Mapped[int]
    score_after: Mapped[int]
    reason: Mapped[str] = mapped_column(Text)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScoreThresholdCrossed(Base):
    """A person's score rose to or above a threshold from below it (once per crossing)."""

    __tablename__ = "score_threshold_crossings"
    __table_args__ = (UniqueConstraint("person_id", "threshold", "crossing_no"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[str] = mapped_column(String(18))
    threshold: Mapped[str] = mapped_column(String(64))
    # 1 for the first crossing of this threshold by this person, 2 after falling below and rising again…
    crossing_no: Mapped[int]
    score: Mapped[int]
    crossed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # What the default hand-off did: e.g. "mail,task", "no-owner", "automations".
    handoff: Mapped[str] = mapped_column(String(200), default="")


class TrackingVisitor(Base):
    """A first-party visitor id (cookie) known to belong to a person."""

    __tablename__ = "tracking_visitors"

    visitor_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(18), index=True)
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)
    linked_by: Mapped[str] = mapped_column(String(32), default="")


class ScoringCursor(ConsumerCursorMixin, Base):
    """Where scoring stands in a feed: `activities` (activity.feed) and `change_events` (sync.feed)."""

    __tablename__ = "scoring_cursors"


class ScoringQueue(ConsumerQueueMixin, Base):
    """An activity taken in and not scored yet (or put back: a visitor linked to a person later)."""

    __tablename__ = "scoring_queue"
