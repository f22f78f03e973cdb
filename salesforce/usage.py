"""API call counting and the org's usage as reported by `Sforce-Limit-Info: api-usage=USED/MAX`.

Every response Salesforce sends carries that header; the gateway records each call here. Other
packages subscribe with `gateway.usage.add_listener(fn)`: `fn(CallInfo)` runs after every call
(sync uses it to keep per-hour counts for the status page). A listener that raises is logged and
ignored, so bookkeeping can never fail a Salesforce call.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from db import utcnow

log = logging.getLogger(__name__)

_API_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")


def parse_limit_info(header: str | None) -> tuple[int, int] | None:
    """(used, max) from a `Sforce-Limit-Info` header value, or None when absent or unreadable."""
    if not header:
        return None
    match = _API_USAGE.search(header)
    if not match:
        return None
    return int(match.group(1)), int(match.group(2))


@dataclass(frozen=True)
class CallInfo:
    """One API call: what was asked, what came back, and the org's usage it reported."""

    method: str
    path: str
    status: int | None  # None: no response (connection error, timeout)
    api_used: int | None
    api_max: int | None
    at: datetime


CallListener = Callable[[CallInfo], None]


class ApiUsage:
    """Calls made by this process and the last usage Salesforce reported (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[CallListener] = []
        self.calls = 0
        self.failed_calls = 0
        self.auth_calls = 0
        self.api_used: int | None = None
        self.api_max: int | None = None
        self.reported_at: datetime | None = None
        self.last_call_at: datetime | None = None
        self.last_success_at: datetime | None = None

    def add_listener(self, listener: CallListener) -> None:
        """Call `listener(CallInfo)` after every API call."""
        with self._lock:
            self._listeners.append(listener)

    def record(self, method: str, path: str, status: int | None, limit_info: str | None) -> CallInfo:
        """Count one call (retries included) and remember the usage it reported."""
        parsed = parse_limit_info(limit_info)
        now = utcnow()
        with self._lock:
            self.calls += 1
            self.last_call_at = now
            if status is None or status >= 500:
                self.failed_calls += 1
            elif status < 400:
                self.last_success_at = now
            if parsed is not None:
                self.api_used, self.api_max = parsed
                self.reported_at = now
            listeners = list(self._listeners)
        info = CallInfo(method, path, status, parsed[0] if parsed else None, parsed[1] if parsed else None, now)
        for listener in listeners:
            try:
                listener(info)
            except Exception:
                log.exception("Salesforce call listener %r failed", listener)
        return info

    def record_auth(self) -> None:
        """Count one OAuth token request (these do not count against the org's API limit)."""
        with self._lock:
            self.auth_calls += 1

    def snapshot(self) -> dict[str, Any]:
        """The numbers as a JSON-ready dict (for /healthz, the status page and logs)."""
        with self._lock:
            share = (self.api_used / self.api_max) if self.api_used is not None and self.api_max else None
            return {
                "calls": self.calls,
                "failed_calls": self.failed_calls,
                "auth_calls": self.auth_calls,
                "api_used": self.api_used,
                "api_max": self.api_max,
                "api_used_share": round(share, 4) if share is not None else None,
                "reported_at": self.reported_at.isoformat() if self.reported_at else None,
                "last_success_at": self.last_success_at.isoformat() if self.last_success_at else None,
            }
