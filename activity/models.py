"""The activity table: one row per thing a person did."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from db import Base, BigId, utcnow

# Kinds written today; consumers must ignore kinds they do not know.
KINDS = ("mail_sent", "mail_delivered", "mail_open", "mail_click", "mail_bounce", "unsubscribe", "resubscribe",
         "form_submit", "page_view", "campaign_status", "opportunity_stage")


class Activity(Base):
    """Something a person did, tied to a Salesforce Lead/Contact id when known."""

    __tablename__ = "activities"
    __table_args__ = (
        Index("ix_activities_person", "person_id", "occurred_at"),
        Index("ix_activities_kind_time", "kind", "occurred_at"),
        Index("ix_activities_txid", "txid", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    # The Salesforce Id of the Lead or Contact, once known.
    person_id: Mapped[str | None] = mapped_column(String(18))
    # First-party web visitor id (tracking cookie), when the activity came from the web.
    visitor_id: Mapped[str | None] = mapped_column(String(64), index=True)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Free-form details: url, title, mail id, template key, form key, automation id…
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # PostgreSQL: the inserting transaction's id (server default pg_current_xact_id(), set by the
    # migration); 0 on SQLite. Consumers read the table in (txid, id) order: see activity.feed.
    # (What each consumer has handled is kept in its own tables, not here.)
    txid: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))


class ConsumerCursorMixin:
    """A consumer's cursor over the activity table, one row per consumer name (see activity.feed).

    The consumer's package owns the table (scoring_cursors, automation_cursors)."""

    consumer: Mapped[str] = mapped_column(String(32), primary_key=True)
    # The (txid, id) of the last activity (or change event) taken in.
    txid: Mapped[int] = mapped_column(BigInteger, default=0)
    last_id: Mapped[int] = mapped_column(BigInteger, default=0)


class ConsumerQueueMixin:
    """Activities a consumer has taken in but not handled yet (see activity.feed).

    The consumer's package owns the table (scoring_queue, automation_form_queue)."""

    activity_id: Mapped[int] = mapped_column(BigId, ForeignKey("activities.id", ondelete="CASCADE"), primary_key=True)
