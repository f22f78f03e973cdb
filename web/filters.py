"""Template filters shared by every package's pages.

Every time a page shows goes through `localtime`: TSUNAGI_TIMEZONE, one format (2026-11-21 08:30),
never ISO 8601's `T`, an offset or microseconds. Machine-readable stamps stay in attributes
(`<time datetime="…">`) and in CSV exports, which keep ISO 8601 with the offset.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from flask import Flask
from flask_babel import format_datetime

DEFAULT_PATTERN = "yyyy-MM-dd HH:mm"


def localtime(value: datetime | date | str | None, pattern: str = DEFAULT_PATTERN) -> str:
    """A time shown in TSUNAGI_TIMEZONE (e.g. 2026-11-23 23:15).

    Takes an aware datetime, a naive one (taken as UTC, as the database stores them), or an ISO 8601
    string (Salesforce's `2026-11-20T10:00:00.000+0000`, a JSON field); a date alone is shown as it
    is; an empty value or text that is no time is shown unchanged.
    """
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return value
        value = parsed
    if not isinstance(value, datetime):
        return value.isoformat()  # a date: no time zone to convert
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return format_datetime(value, pattern)


def as_json(value: Any) -> str:
    """Readable JSON for people: Japanese kept as is, keys sorted (autoescaped by Jinja)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def init_filters(app: Flask) -> None:
    """Register the filters on the app's Jinja environment."""
    from web.labels import label

    app.add_template_filter(localtime, "localtime")
    app.add_template_filter(as_json, "as_json")
    app.add_template_filter(label, "label")
