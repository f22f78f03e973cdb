"""Salesforce API calls per hour, persisted for the status page chart and the quota guard.

The gateway calls a listener after every API call; the listener only counts in memory (it runs
on the gateway's thread, outside any transaction) and `flush` adds the counts to
`sync_api_calls` from the transaction of whoever flushes (the sync cycle, the webhook job).
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime
from typing import Any

from flask import Flask
from sqlalchemy.orm import Session

from db import insert_for
from salesforce.models import ApiCallHour

_EXTENSION = "tsunagi.salesforce.calls"


class CallCounter:
    """Counts calls per UTC hour and remembers the org's last reported usage (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: Counter[datetime] = Counter()
        self._usage: tuple[int, int] | None = None

    def __call__(self, info: Any) -> None:
        hour = info.at.replace(minute=0, second=0, microsecond=0)
        with self._lock:
            self._pending[hour] += 1
            if info.api_used is not None and info.api_max:
                self._usage = (info.api_used, info.api_max)

    def flush(self, session: Session) -> None:
        """Add the counted calls to the database (in the caller's transaction)."""
        with self._lock:
            pending, self._pending = self._pending, Counter()
            usage = self._usage
        if not pending:
            return
        for hour, calls in sorted(pending.items()):
            used, limit = usage if usage else (None, None)
            stmt = insert_for(session, ApiCallHour).values(hour=hour, calls=calls, api_used=used, api_max=limit)
            update: dict[str, Any] = {"calls": ApiCallHour.calls + stmt.excluded.calls}
            if usage:
                update |= {"api_used": stmt.excluded.api_used, "api_max": stmt.excluded.api_max}
            session.execute(stmt.on_conflict_do_update(index_elements=["hour"], set_=update))


def counter_for(app: Flask, gateway: Any) -> CallCounter:
    """The call counter listening to `gateway` (registered once per gateway object)."""
    holder = app.extensions.setdefault(_EXTENSION, {"lock": threading.Lock(), "by_gateway": {}})
    with holder["lock"]:
        counter = holder["by_gateway"].get(id(gateway))
        if counter is None:
            counter = CallCounter()
            gateway.usage.add_listener(counter)
            holder["by_gateway"][id(gateway)] = counter
        return counter
