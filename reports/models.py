"""Tables of reports: snapshots (figures too costly to compute on every request, kept with their
age) and the pairs an admin dismissed as not duplicates (data quality)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from db import Base, utcnow


class ReportSnapshot(Base):
    """The last computed figures of one report (`key`), e.g. data quality over the whole mirror.

    Written by the `reports.refresh` job (work/schedule.py); pages show `computed_at` beside them.
    """

    __tablename__ = "report_snapshots"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
    took_ms: Mapped[int] = mapped_column(default=0)


class DuplicateDismissal(Base):
    """An admin said these two people are not duplicates (ids stored in sorted order)."""

    __tablename__ = "duplicate_dismissals"

    first_id: Mapped[str] = mapped_column(String(18), primary_key=True)
    second_id: Mapped[str] = mapped_column(String(18), primary_key=True)
    dismissed_by: Mapped[str] = mapped_column(String(254), default="")
    dismissed_at: Mapped[datetime] = mapped_column(default=utcnow)
