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
    unique, so a retried or duplicated message is stored once. A worker fetches the notified
    records from Salesforce and applies what Salesforce returns (status queued → running → done;
    `ignored` when there was nothing to fetch — a future stamp, an object not mirrored, an id
    Salesforce does not have; `failed` after OUTBOUND_MAX_ATTEMPTS failed fetches).
    """

    __tablename__ = "outbound_notifications"
    __table_args__ = (
        Index("ix_outbound_notifications_due", "status", "due_at"),
        # The endpoint's rate limit counts recent rows, globally and per client.
        Index("ix_outbound_notifications_received", "received_at"),
        Index("ix_outbound_notifications_client", "client_key", "received_at"),
    )

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
    # HMAC of the sender's IP address (see forms.service.client_key): rate limiting per source.
    client_key: Mapped[str | None] = mapped_column(String(32))
    applied_at: Mapped[datetime | None]
