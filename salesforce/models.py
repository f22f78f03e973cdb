"""Tables of the salesforce package: the API calls counted per hour (salesforce.calls)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Mapped, mapped_column

from db import Base


class ApiCallHour(Base):
    """Salesforce API calls tsunagi made in one hour, and the org's usage last reported then."""

    # The table keeps the name it had when sync owned the counter (no migration for a rename).
    __tablename__ = "sync_api_calls"

    hour: Mapped[datetime] = mapped_column(primary_key=True)
    calls: Mapped[int] = mapped_column(default=0)
    api_used: Mapped[int | None]
    api_max: Mapped[int | None]
