"""The periodic schedule, as data: what the clock enqueues, and how often.

Each entry names a job kind (handled by the package that registered it) and reads its interval
from the settings. The clock turns this list into APScheduler interval jobs that only enqueue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from config import Settings


@dataclass(frozen=True)
class Periodic:
    """Enqueue a job of `kind` every `seconds(settings)` seconds when `enabled(settings)`."""

    kind: str
    seconds: Callable[[Settings], int]
    enabled: Callable[[Settings], bool] = lambda _settings: True


SCHEDULE: tuple[Periodic, ...] = (
    Periodic("sync.cycle", lambda s: s.sync_interval_seconds),
    Periodic("automations.tick", lambda _s: 30),
    Periodic("mail.log_tasks", lambda _s: 60),
    Periodic("scoring.decay", lambda _s: 3600),
    Periodic("work.cleanup", lambda _s: 3600),
    Periodic("work.retention", lambda _s: 86400),
    Periodic("people.cleanup", lambda _s: 3600),
    Periodic("reports.refresh", lambda s: s.reports_refresh_seconds),
)
