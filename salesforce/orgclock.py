"""The org's clock as its answers tell it: every Salesforce response carries a `Date` header.

The host's clock may be minutes or hours off the org's, so nothing that decides what to read
(a watermark, a window, a ceiling) may come from `utcnow()`. `OrgClock` keeps the last `Date`
header seen and the host's *monotonic* time when it arrived; `now()` is that date plus the
monotonic time elapsed since. A wrong or jumping host wall clock changes nothing: only the
stopwatch between two answers is the host's. `Date` has whole seconds, so `now()` may run up to
a second (plus the answer's latency) behind the org: always on the safe side for an upper bound.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any


class OrgClock:
    """The org's time, estimated from the `Date` header of its latest answer."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._seen: tuple[datetime, float] | None = None

    def observe(self, date_header: str | None) -> None:
        """Remember the org's time from one answer's `Date` header (unreadable ones are ignored)."""
        if not date_header:
            return
        try:
            when = parsedate_to_datetime(date_header)
        except (TypeError, ValueError):
            return
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        with self._lock:
            self._seen = (when.astimezone(UTC), self._monotonic())

    def observe_response(self, response: Any, *args: Any, **kwargs: Any) -> None:
        """A requests response hook: observe the answer's `Date` header."""
        self.observe(response.headers.get("Date"))

    def now(self) -> datetime | None:
        """The org's time now, or None when no answer has been seen yet."""
        with self._lock:
            seen = self._seen
        if seen is None:
            return None
        when, at = seen
        return when + timedelta(seconds=max(0.0, self._monotonic() - at))
