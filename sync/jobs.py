"""The `sync.cycle` job the clock enqueues every SYNC_INTERVAL_SECONDS."""

from __future__ import annotations

import logging
from typing import Any

from sync.cycle import run_cycle
from web import current_application

log = logging.getLogger(__name__)


def cycle_job(payload: dict[str, Any]) -> None:
    """Run one cycle. Its failures are recorded in sync_runs and retried by the next cycle, so
    the job itself does not fail (a retried job would only pile onto the next scheduled one)."""
    objects = payload.get("objects") or None
    result = run_cycle(current_application(), objects, bool(payload.get("full")))
    log.info("sync cycle: %s, %d API calls, %d records", result.outcome, result.api_calls,
             sum(result.records.values()))
