"""The clock: exactly one APScheduler process that only enqueues jobs from work.schedule.

Its job store is in memory and never shared. Each run enqueues with a dedupe key naming the
time slot, so even two clocks started by mistake enqueue each periodic job once per slot.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from config import settings_of
from db import get_db
from work import queue
from work.schedule import SCHEDULE, Periodic

log = logging.getLogger(__name__)


def enqueue_periodic(app: Flask, entry: Periodic, now: float | None = None) -> bool:
    """Enqueue one run of `entry` for the current slot; False if this slot was already enqueued."""
    every = entry.seconds(settings_of(app))
    slot = int((now if now is not None else time.time()) // every)
    with get_db(app).transaction() as session:
        added = queue.enqueue(session, entry.kind, {}, dedupe_key=f"{entry.kind}:{every}:{slot}", max_attempts=1)
    if added:
        log.debug("enqueued %s for slot %s", entry.kind, slot)
    return added


def build_scheduler(app: Flask, scheduler_class: type[BaseScheduler] = BlockingScheduler) -> Any:
    """A scheduler with one interval job per enabled schedule entry."""
    settings = settings_of(app)
    scheduler = scheduler_class(timezone="UTC")
    for entry in SCHEDULE:
        if entry.enabled(settings):
            scheduler.add_job(
                enqueue_periodic, "interval", seconds=entry.seconds(settings), args=(app, entry),
                id=entry.kind, coalesce=True, max_instances=1,
            )
            # The first run is one interval away (APScheduler's default; next_run_time=None would
            # add the job paused, and it would never run): enqueue the current slot now.
            enqueue_periodic(app, entry)
    return scheduler


def run_clock(app: Flask) -> None:
    """Run the clock until SIGTERM or SIGINT (it holds nothing: it stops at once).

    The scheduler runs in a background thread while the main thread waits for the signal, so a
    signal arriving at any moment — even before the scheduler has started — stops the clock.
    """
    stopping = threading.Event()

    def stop(signum: int, _frame: object) -> None:
        log.info("clock stopping (signal %d)", signum)
        stopping.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    scheduler = build_scheduler(app, BackgroundScheduler)
    scheduler.start()
    log.info("clock started: %d periodic jobs", len(scheduler.get_jobs()))
    stopping.wait()
    scheduler.shutdown(wait=False)
    log.info("clock stopped")
