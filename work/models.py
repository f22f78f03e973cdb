"""Tables for background work: generic jobs and named leases."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db import Base, utcnow


class ClaimableMixin:
    """Columns that let workers claim due rows of a table safely (see work.claiming).

    A row is due when `status` is 'queued' and `due_at` has passed, or when it is 'running'
    and its lease (`locked_until`) has expired because the worker holding it died.
    """

    status: Mapped[str] = mapped_column(String(16), default="queued")
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    locked_by: Mapped[str | None] = mapped_column(String(64))
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class Job(ClaimableMixin, Base):
    """One unit of background work of a registered kind, e.g. a sync cycle."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Same key → one job: the clock uses "kind:slot" so two clocks cannot enqueue twice.
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    max_attempts: Mapped[int] = mapped_column(default=5)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class Lease(Base):
    """A named lock with an expiry, held in the database so it works across machines."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime]
