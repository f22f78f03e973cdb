"""Salesforce date fields (Task.ActivityDate, Campaign.EndDate…) hold a local date with no time zone."""

from __future__ import annotations

import functools
from datetime import date, datetime
from zoneinfo import ZoneInfo

from config import settings_of


@functools.lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_date(moment: datetime, tz: str | None = None) -> date:
    """The local date of the aware `moment` in `tz` (default: the current app's TSUNAGI_TIMEZONE):
    what a Salesforce date field such as ActivityDate should say about it."""
    return moment.astimezone(_zone(tz or settings_of().timezone)).date()
