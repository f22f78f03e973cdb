"""API budget and fault injection: what makes the dev org fail the way real orgs do.

`ApiBudget` counts calls over a rolling 24 hours against the org's daily limit (Sforce-Limit-Info,
/limits, 403 REQUEST_LIMIT_EXCEEDED). `FaultPlan` holds injected faults: the next `count` calls whose
path matches a regex (and method, if given) answer 503, 401 INVALID_SESSION_ID, 403
REQUEST_LIMIT_EXCEEDED, are delayed by `delay` seconds before being served normally ("slow": past a
client's timeout, a stalled answer), or have their connection reset without an answer ("reset").
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

FAULT_KINDS = ("503", "invalid_session", "limit_exceeded", "slow", "reset")


class ApiBudget:
    """Calls counted per minute over a rolling 24 hours, against `maximum`."""

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum
        self._configured_maximum = maximum
        self._lock = threading.Lock()
        self._minutes: dict[datetime, int] = {}

    def _prune(self, now: datetime) -> None:
        horizon = now - timedelta(hours=24)
        for minute in [m for m in self._minutes if m <= horizon]:
            del self._minutes[minute]

    def used(self, now: datetime) -> int:
        """Calls counted in the 24 hours before `now`."""
        with self._lock:
            self._prune(now)
            return sum(self._minutes.values())

    def spend(self, now: datetime) -> bool:
        """Count one call; False (and nothing counted) when the budget is already spent."""
        minute = now.replace(second=0, microsecond=0)
        with self._lock:
            self._prune(now)
            if sum(self._minutes.values()) >= self.maximum:
                return False
            self._minutes[minute] = self._minutes.get(minute, 0) + 1
            return True

    def set_used(self, used: int, now: datetime) -> None:
        """Pretend `used` calls were made in the current minute (for tests and demos)."""
        with self._lock:
            self._minutes = {now.replace(second=0, microsecond=0): used} if used else {}

    def reset(self) -> None:
        """Forget every counted call and restore the configured daily limit."""
        with self._lock:
            self._minutes = {}
            self.maximum = self._configured_maximum


@dataclass
class Fault:
    """One injected fault, consumed by the next `remaining` matching calls."""

    pattern: re.Pattern[str]
    kind: str
    remaining: int
    method: str | None
    delay: float


class FaultPlan:
    """The injected faults, first match wins."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, path_regex: str, kind: str, count: int = 1, method: str | None = None, delay: float = 1.0) -> None:
        """Make the next `count` calls matching `path_regex` (and `method`) fail with `kind`."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {FAULT_KINDS}, not {kind!r}")
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._faults.append(Fault(re.compile(path_regex), kind, count, method.upper() if method else None,
                                      float(delay)))

    def take(self, method: str, path: str) -> Fault | None:
        """The fault this call meets (consuming one use of it), or None."""
        with self._lock:
            for fault in self._faults:
                if fault.method not in (None, method) or not fault.pattern.search(path):
                    continue
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def pending(self) -> list[dict[str, object]]:
        """The faults still waiting, for the admin page."""
        with self._lock:
            return [{"pattern": f.pattern.pattern, "kind": f.kind, "remaining": f.remaining, "method": f.method,
                     "delay": f.delay} for f in self._faults]

    def clear(self) -> None:
        """Drop every injected fault."""
        with self._lock:
            self._faults = []
