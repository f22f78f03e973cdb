"""Template filters shared by every package's pages."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import Flask
from flask_babel import format_datetime


def localtime(value: datetime | None, pattern: str = "yyyy-MM-dd HH:mm") -> str:
    """A UTC datetime shown in TSUNAGI_TIMEZONE (e.g. 2026-11-23 23:15)."""
    return format_datetime(value, pattern) if value is not None else ""


def as_json(value: Any) -> str:
    """Readable JSON for people: Japanese kept as is, keys sorted (autoescaped by Jinja)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def init_filters(app: Flask) -> None:
    """Register the filters on the app's Jinja environment."""
    app.add_template_filter(localtime, "localtime")
    app.add_template_filter(as_json, "as_json")
