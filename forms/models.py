"""Tables of the forms package: definitions and submissions.

The prefix-search indexes of the as-you-type lookup are the mirror's (sync/models.py); the org's
describe is cached by salesforce.describe (salesforce/models.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db import Base, BigId, utcnow

SUBMISSION_STATUSES = ("pending", "written", "failed", "discarded", "withdrawn")


class FormDefinition(Base):
    """A form as an admin defined it; `spec` is the checked document (see forms.schema)."""

    __tablename__ = "form_definitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    audience: Mapped[str] = mapped_column(String(16))
    object_name: Mapped[str] = mapped_column(String(80))
    # Bumped on every change; a submission records the version it was made with.
    version: Mapped[int] = mapped_column(default=1)
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Submission(Base):
    """One accepted form entry, committed before anything is sent to Salesforce.

    `idempotency_key` comes from the token rendered into the form, so a double-click or a
    retried POST finds this row instead of making a second one. `status` follows the
    write-back items listed in `writeback_item_ids` (pending → written | failed).
    """

    __tablename__ = "form_submissions"
    __table_args__ = (
        Index("ix_form_submissions_form", "form_key", "id"),
        Index("ix_form_submissions_status", "status", "id"),
        Index("ix_form_submissions_client", "client_key", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    form_key: Mapped[str] = mapped_column(String(64))
    form_version: Mapped[int] = mapped_column(default=1)
    # Field values as they will be written, under their Salesforce names.
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The Lead/Contact the submission is about: chosen, matched, or written (once known).
    person_id: Mapped[str | None] = mapped_column(String(18))
    # How the person was found: chosen (operator/sales/signed link), matched:<rule> (signed-in only),
    # unverified:<rule> (a public entry that looks like a known person: kept as a new record), or new.
    resolution: Mapped[str] = mapped_column(String(32), default="new")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    writeback_item_ids: Mapped[list[Any]] = mapped_column(default=list)
    error_message: Mapped[str | None] = mapped_column(Text)
    # Lower-cased text of the values, for the submissions search box.
    search_text: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None]
    # HMAC of the client's IP (public forms): rate limiting without keeping raw addresses.
    client_key: Mapped[str | None] = mapped_column(String(64))
    # A public form's privacy-policy consent: {"text", "url", "at"} as the person saw and ticked it.
    privacy_consent: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    written_at: Mapped[datetime | None]
