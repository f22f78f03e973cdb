"""The mirror of Salesforce records and the change events derived from it.

These two tables are the contract between sync (writer) and forms, automations, scoring and
reports (readers). Field values are kept under their Salesforce names in `fields`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from db import Base, BigId, JSONDocument, utcnow

SOURCES = ("poll", "outbound", "writeback")


class MirrorRecord(Base):
    """One Salesforce record as last synced, with normalized lookup keys for forms and dedupe."""

    __tablename__ = "mirror_records"
    __table_args__ = (
        Index("ix_mirror_object_modstamp", "object_name", "system_modstamp", "sf_id"),
        Index("ix_mirror_email", "email_key"),
        Index("ix_mirror_phone", "phone_key"),
        Index("ix_mirror_name", "name_key"),
        Index("ix_mirror_kana", "kana_key"),
        Index("ix_mirror_company", "company_key"),
    )

    # 18-character Salesforce ids are unique across objects (the key prefix names the object).
    sf_id: Mapped[str] = mapped_column(String(18), primary_key=True)
    object_name: Mapped[str] = mapped_column(String(80))
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    system_modstamp: Mapped[datetime]
    is_deleted: Mapped[bool] = mapped_column(default=False)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Where the latest values came from: poll, outbound, or writeback (our own write).
    last_source: Mapped[str] = mapped_column(String(16), default="poll")
    email_key: Mapped[str | None] = mapped_column(String(254))
    phone_key: Mapped[str | None] = mapped_column(String(20))
    name_key: Mapped[str | None] = mapped_column(String(200))
    kana_key: Mapped[str | None] = mapped_column(String(200))
    company_key: Mapped[str | None] = mapped_column(String(200))


class ChangeEvent(Base):
    """A record created, deleted or undeleted, or one field of it changed, as seen by the mirror.

    `kind` is 'created', 'updated' (one row per changed field), 'deleted' or 'undeleted'.
    Automations claim unprocessed events (`processed_at IS NULL`) and mark them processed.
    """

    __tablename__ = "change_events"
    __table_args__ = (
        Index("ix_change_events_record", "record_id", "id"),
        Index("ix_change_events_unprocessed", "processed_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    object_name: Mapped[str] = mapped_column(String(80))
    record_id: Mapped[str] = mapped_column(String(18))
    kind: Mapped[str] = mapped_column(String(16))
    field: Mapped[str | None] = mapped_column(String(80))
    old_value: Mapped[Any | None] = mapped_column(JSONDocument)
    new_value: Mapped[Any | None] = mapped_column(JSONDocument)
    # When Salesforce says it happened (the record's SystemModstamp) and when we saw it.
    occurred_at: Mapped[datetime]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    source: Mapped[str] = mapped_column(String(16))
    processed_at: Mapped[datetime | None]
