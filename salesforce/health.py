"""The "salesforce" check of /healthz: is the org reachable, and how much of its API budget is used.

A busy web process must not spend the org's API calls on health probes, so the answer is cached
for CACHE_SECONDS, and a successful call made by this process within that time counts as proof of
reachability without a probe. A probe is one `limits/` call without retries and with a short
timeout, so /healthz answers quickly even while Salesforce is down.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

from flask import Flask

from config import settings_of
from db import utcnow
from salesforce.errors import AuthError, LimitExceeded, SalesforceError

CACHE_SECONDS = 60.0
PROBE_TIMEOUT_SECONDS = 5.0


class SalesforceHealth:
    """A /healthz check bound to one app: `check()` → (ok, details)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._cached: tuple[float, tuple[bool, dict[str, Any]]] | None = None

    def __call__(self) -> tuple[bool, dict[str, Any]]:
        """The cached answer, refreshed at most every CACHE_SECONDS."""
        with self._lock:
            if self._cached is not None and time.monotonic() - self._cached[0] < CACHE_SECONDS:
                return self._cached[1]
            result = self._check()
            self._cached = (time.monotonic(), result)
            return result

    def _check(self) -> tuple[bool, dict[str, Any]]:
        from config.settings import devorg_connection
        from salesforce import gateway_for

        settings = settings_of(self.app)
        if not settings.salesforce_configured and devorg_connection(settings) is None:
            # Nothing to reach: no org is configured and the dev org is not running (e.g. in tests).
            return True, {"configured": False, "detail": "no Salesforce settings and no dev org running"}
        try:
            gateway = gateway_for(self.app)
        except AuthError as exc:
            return False, {"error": exc.message}
        details: dict[str, Any] = {"auth": gateway.credentials.description, "usage": gateway.usage.snapshot()}
        recent = gateway.usage.last_success_at
        if recent is not None and utcnow() - recent < timedelta(seconds=CACHE_SECONDS):
            return True, {"reachable": True, **details}
        try:
            gateway.request("GET", "limits/", max_retries=0, timeout=min(PROBE_TIMEOUT_SECONDS, gateway.timeout))
        except LimitExceeded as exc:
            return False, {"reachable": True, "error": "API request limit exceeded",
                           "paused_until": exc.resume_at.isoformat(), **details}
        except SalesforceError as exc:
            return False, {"reachable": False, "error": f"{type(exc).__name__}: {exc.message}"[:300], **details}
        return True, {"reachable": True, **details, "usage": gateway.usage.snapshot()}
