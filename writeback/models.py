"""A write to Salesforce waiting, done, or failed: the contract every writer uses.

Forms, mail (opt-outs, Task logging), automations (field updates, Tasks, campaign members) and
scoring (Score__c) call `writeback.queue.enqueue(...)` in their own transaction; a worker sends
items in batches through the gateway. An item is created once per `idempotency_key`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db import Base, BigId, utcnow
from work.models import ClaimableMixin

OPERATIONS = ("create", "update", "upsert", "delete")
# queued/running (ClaimableMixin), written, failed (permanent: in the admin error queue), discarded.
STATUSES = ("queued", "running", "written", "failed", "discarded")


class WritebackItem(ClaimableMixin, Base):
    """One record to create, update, upsert or delete in Salesforce."""

    __tablename__ = "writeback_items"
    __table_args__ = (Index("ix_writeback_due", "status", "due_at"),
                      # Which tsunagi user recorded a record (automations name the rep in mails).
                      Index("ix_writeback_result", "result_id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    object_name: Mapped[str] = mapped_column(String(80))
    operation: Mapped[str] = mapped_column(String(8))
    record_id: Mapped[str | None] = mapped_column(String(18))
    external_id_field: Mapped[str | None] = mapped_column(String(80))
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Written only after this item; a field value {"$ref": <item id>} becomes that item's Salesforce Id.
    depends_on_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("writeback_items.id"))
    result_id: Mapped[str | None] = mapped_column(String(18))
    origin: Mapped[str] = mapped_column(String(32), default="")
    origin_ref: Mapped[str] = mapped_column(String(200), default="")
    error_code: Mapped[str | None] = mapped_column(String(80))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    written_at: Mapped[datetime | None]
    # Set while a create may have reached Salesforce without us learning its Id (answer lost,
    # worker killed mid-call): before sending it again the worker looks for the record it made.
    uncertain_since: Mapped[datetime | None]


@dataclass
class WriteOutcome:
    """What happened to one item in this pass."""

    status: str  # written | failed | queued
    result_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    due_at: datetime | None = None
    uncertain: bool | None = None  # True: set the flag; False: clear it; None: leave it
    mirror: dict[str, Any] | None = None
