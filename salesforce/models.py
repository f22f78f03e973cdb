"""Tables of the salesforce package: the API calls counted per hour (salesforce.calls) and the
org's describe of each object (salesforce.describe)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
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


class ObjectDescribe(Base):
    """The compact describe of one Salesforce object: every field's type and form facts.

    The one cache of field descriptions (salesforce.describe): sync builds its SELECT list from
    the types, forms take labels, lengths, required flags and picklists from the same row.
    """

    # The table keeps the name it had when forms owned the cache (rows carried over, not renamed).
    __tablename__ = "form_describe_cache"

    object_name: Mapped[str] = mapped_column(String(80), primary_key=True)
    # {field name: {type, label, length, required, picklist: [{value, label}], external_id}}
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # None: to be described again at the next refresh (a query named a field the org no longer has).
    described_at: Mapped[datetime | None]
