"""The activity table: one row per thing a person did."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
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
    # Consumers mark what they have handled; partial work is found through these.
    scored_at: Mapped[datetime | None] = mapped_column(index=True)
    automations_at: Mapped[datetime | None] = mapped_column(index=True)
