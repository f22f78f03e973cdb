"""The worker loop: poll every registered work source, run due jobs, sleep when idle.

Run as many workers as you like, on as many machines: every source claims its rows with a lease
(work.claiming), so two workers never process the same row, and a dead worker's rows come back.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import traceback
import uuid

from flask import Flask

from db import get_db
from work import queue
from work.registry import WorkRegistry

log = logging.getLogger(__name__)

JOB_BATCH = 10


def new_worker_id() -> str:
    """A readable id unique to this process: host, pid and a random suffix."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def run_jobs(app: Flask, worker_id: str, limit: int = JOB_BATCH) -> int:
    """Claim and run up to `limit` due jobs; each job's outcome is committed on its own."""
    registry: WorkRegistry = app.extensions["tsunagi.work"]
    settings = app.config["TSUNAGI"]
    database = get_db(app)
    with database.transaction() as session:
        kinds = list(registry.job_handlers)
        jobs = queue.claim_jobs(session, worker_id, limit, settings.worker_lease_seconds, kinds=kinds) if kinds else []
        claimed = [(job.id, job.kind, dict(job.payload)) for job in jobs]
    for job_id, kind, payload in claimed:
        handler = registry.job_handlers.get(kind)
        error = None
        try:
            if handler is None:
                raise LookupError(f"no handler for job kind {kind!r}")
            with app.app_context():
                handler(payload)
        except Exception:
            error = traceback.format_exc()
            log.exception("job %s (%s) failed", job_id, kind)
        with database.transaction() as session:
            from work.models import Job

            job = session.get(Job, job_id)
            if job is not None:
                queue.fail(job, error) if error else queue.finish(job)
    return len(claimed)


def work_once(app: Flask, worker_id: str) -> int:
    """One pass over every work source and the job queue; returns how much was processed."""
    registry: WorkRegistry = app.extensions["tsunagi.work"]
    done = 0
    for name, source in list(registry.work_sources.items()):
        try:
            with app.app_context():
                done += source(worker_id)
        except Exception:
            log.exception("work source %s failed", name)
    done += run_jobs(app, worker_id)
    return done


def run_worker(app: Flask, stop: threading.Event | None = None, worker_id: str | None = None) -> None:
    """Work until `stop` is set or SIGTERM/SIGINT arrives; sleep briefly whenever idle."""
    stop = stop or threading.Event()
    worker_id = worker_id or new_worker_id()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    idle = app.config["TSUNAGI"].worker_idle_sleep_seconds
    log.info("worker %s started", worker_id)
    while not stop.is_set():
        if work_once(app, worker_id) == 0:
            stop.wait(idle)
    log.info("worker %s stopped", worker_id)
