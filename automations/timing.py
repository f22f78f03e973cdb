"""When a step is due: waits, times of day, send windows, weekends, Japanese holidays, date triggers.

All functions take `now` (or a base time) explicitly so tests control the clock; local times are
in the configured time zone (Asia/Tokyo by default). Results are timezone-aware UTC.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import holidays

from salesforce.dates import local_date


@functools.lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@functools.lru_cache(maxsize=4)
def _japan_holidays(year: int) -> Any:
    return holidays.Japan(years=year)


def is_japanese_holiday(day: date) -> bool:
    """True on a Japanese public holiday (国民の祝日, including substitute holidays)."""
    return day in _japan_holidays(day.year)


def _hm(text: str) -> time:
    hour, minute = text.split(":")
    return time(int(hour), int(minute))


def at_local_time(moment: datetime, hhmm: str, tz: str) -> datetime:
    """The first moment at local time `hhmm` on or after `moment`."""
    local = moment.astimezone(_zone(tz))
    candidate = datetime.combine(local.date(), _hm(hhmm), tzinfo=_zone(tz))
    if candidate < local:
        candidate = datetime.combine(local.date() + timedelta(days=1), _hm(hhmm), tzinfo=_zone(tz))
    return candidate.astimezone(UTC)


def after_wait(base: datetime, wait: dict[str, Any], tz: str) -> datetime:
    """`base` plus the wait's days and hours, then moved to its local time of day (`at`) if given."""
    moment = base + timedelta(days=wait.get("days") or 0, hours=wait.get("hours") or 0)
    if wait.get("at"):
        # "2 days, at 10:00" is 10:00 on the calendar day two days later — unless that has
        # already passed (a zero wait late in the day), then 10:00 the next day.
        zone = _zone(tz)
        candidate = datetime.combine(moment.astimezone(zone).date(), _hm(wait["at"]), tzinfo=zone)
        if candidate < base:
            candidate += timedelta(days=1)
        moment = candidate
    return moment.astimezone(UTC)


def _open_day(day: date, window: dict[str, Any]) -> bool:
    if window.get("skip_weekends") and day.weekday() >= 5:
        return False
    return not (window.get("skip_holidays") and is_japanese_holiday(day))


def in_window(moment: datetime, window: dict[str, Any] | None, tz: str) -> bool:
    """True when `moment` falls inside the send window (always true without one)."""
    if not window:
        return True
    local = moment.astimezone(_zone(tz))
    if not _open_day(local.date(), window):
        return False
    return _hm(window["start"]) <= local.time() < _hm(window["end"])


def next_open(moment: datetime, window: dict[str, Any] | None, tz: str) -> datetime:
    """`moment` itself when inside the window, else the next time the window opens."""
    if in_window(moment, window, tz):
        return moment.astimezone(UTC)
    assert window is not None
    zone = _zone(tz)
    local = moment.astimezone(zone)
    day = local.date()
    if local.time() >= _hm(window["start"]):
        # Today's window has begun (and, being outside it, has ended or the day is closed).
        if local.time() < _hm(window["end"]) and _open_day(day, window):
            return moment.astimezone(UTC)
        day += timedelta(days=1)
    # Golden Week plus weekends is at most ~9 closed days; 40 covers any year with margin.
    for _ in range(40):
        if _open_day(day, window):
            return datetime.combine(day, _hm(window["start"]), tzinfo=zone).astimezone(UTC)
        day += timedelta(days=1)
    raise ValueError("send window never opens")


def parse_sf_date(value: Any) -> date | None:
    """A Salesforce date or datetime value ('2026-12-01', '2026-12-01T10:00:00.000+0000') as a date."""
    if value in (None, ""):
        return None
    text = str(value)
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def date_relative_moment(day: date, offset_days: int, hhmm: str, tz: str) -> datetime:
    """`day` + `offset_days` at local time `hhmm`, e.g. EndDate − 3 days at 09:00 Asia/Tokyo."""
    target = day + timedelta(days=offset_days)
    return datetime.combine(target, _hm(hhmm), tzinfo=_zone(tz)).astimezone(UTC)


def local_today(now: datetime, tz: str) -> date:
    """Today's date in the local time zone."""
    return local_date(now, tz)
