"""Tables of the webhooks package: inbound notifications stored before they are acknowledged."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db import Base, BigId, utcnow
from work.models import ClaimableMixin


class OutboundNotification(ClaimableMixin, Base):
    """One Salesforce Outbound Message notification, stored durably before the Ack.

    `notification_id` is Salesforce's id for the notification, unchanged across its retries:
    unique, so a retried or duplicated message is stored once. A worker applies queued rows to
    the mirror (status queued → running → done).
    """

    __tablename__ = "outbound_notifications"
    __table_args__ = (Index("ix_outbound_notifications_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    notification_id: Mapped[str] = mapped_column(String(40), unique=True)
    organization_id: Mapped[str] = mapped_column(String(18))
    action_id: Mapped[str] = mapped_column(String(18), default="")
    object_name: Mapped[str] = mapped_column(String(80))
    record_id: Mapped[str] = mapped_column(String(18))
    # The field values as sent (text, None for xsi:nil) and the notification's XML as received.
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    raw: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    applied_at: Mapped[datetime | None]
