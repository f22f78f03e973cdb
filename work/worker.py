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
import time
import traceback
import uuid
from typing import Any

from flask import Flask

from config import settings_of
from db import Database, get_db
from ops.logs import bound
from ops.metrics import observe_job, observe_work
from work import queue, running
from work.registry import WorkRegistry

log = logging.getLogger(__name__)

JOB_BATCH = 10


def new_worker_id() -> str:
    """A readable id unique to this process: host, pid and a random suffix."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def run_jobs(app: Flask, worker_id: str, limit: int = JOB_BATCH, stop: threading.Event | None = None) -> int:
    """Claim and run up to `limit` due jobs, one at a time; each outcome is committed on its own.

    Jobs are claimed one by one, not as a batch: a claimed job waiting behind a long one would
    lose its lease meanwhile and be run by a second worker too. While a handler runs, a heartbeat
    renews its lease (work.running). Once `stop` is set (SIGTERM) no further job is claimed, and a
    chunked job in hand stops at its next chunk and is queued again (work.running.CONTINUE).
    """
    registry: WorkRegistry = app.extensions["tsunagi.work"]
    settings = settings_of(app)
    database = get_db(app)
    stop = stop or threading.Event()
    kinds = list(registry.job_handlers)
    ran = 0
    while kinds and ran < limit and not stop.is_set():
        with database.transaction() as session:
            jobs = queue.claim_jobs(session, worker_id, 1, settings.worker_lease_seconds, kinds=kinds)
            claimed = [(job.id, job.kind, dict(job.payload)) for job in jobs]
        if not claimed:
            break
        job_id, kind, payload = claimed[0]
        _run_one(app, database, worker_id, job_id, kind, payload, stop)
        ran += 1
    return ran


def _run_one(app: Flask, database: Database, worker_id: str, job_id: int, kind: str, payload: dict[str, Any],
             stop: threading.Event) -> None:
    settings = settings_of(app)
    handler = app.extensions["tsunagi.work"].job_handlers.get(kind)
    job = running.RunningJob(job_id, worker_id, time.monotonic() + settings.worker_job_timeout_seconds, stop)
    error = None
    result = None
    started = time.monotonic()
    token = running.running(job)
    with bound(job_id=str(job_id), source=kind):
        try:
            with running.Heartbeat(database, job, settings.worker_lease_seconds):
                if handler is None:
                    raise LookupError(f"no handler for job kind {kind!r}")
                with app.app_context():
                    result = handler(payload)
        except Exception:
            error = traceback.format_exc()
            log.exception("job %s (%s) failed", job_id, kind)
        finally:
            running.finished(token)
    observe_job(kind, error is None, time.monotonic() - started)
    if time.monotonic() - started > settings.worker_job_timeout_seconds:
        log.warning("job %s (%s) ran %.0f s, past WORKER_JOB_TIMEOUT_SECONDS", job_id, kind,
                    time.monotonic() - started)
    with database.transaction() as session:
        from work.models import Job

        row = session.get(Job, job_id)
        if row is None or row.locked_by != worker_id:
            return  # the lease was lost: whoever holds the job now records its outcome
        if error:
            queue.fail(row, error)
        elif result == running.CONTINUE:
            queue.requeue(row)
        else:
            queue.finish(row)


def work_once(app: Flask, worker_id: str, stop: threading.Event | None = None) -> int:
    """One pass over every work source and the job queue; returns how much was processed.

    Once `stop` is set no further source is started (the one running finishes its batch).
    """
    registry: WorkRegistry = app.extensions["tsunagi.work"]
    done = 0
    for name, source in list(registry.work_sources.items()):
        if stop is not None and stop.is_set():
            return done
        done += _poll(app, name, source, worker_id)
        for urgent_name, urgent in list(registry.urgent_sources.items()):
            done += _poll(app, urgent_name, urgent, worker_id)
    done += run_jobs(app, worker_id, stop=stop)
    return done


def _poll(app: Flask, name: str, source: Any, worker_id: str) -> int:
    """Run one work source with its log context and metrics; a failure is logged and counts 0."""
    with bound(source=name):
        try:
            with app.app_context():
                items = source(worker_id)
            observe_work(name, items)
            return items
        except Exception:
            observe_work(name, 0, ok=False)
            log.exception("work source %s failed", name)
            return 0


def release_held_jobs(app: Flask, worker_id: str) -> int:
    """Jobs still marked running for this worker as it exits go back to the queue (none are in hand)."""
    from sqlalchemy import select

    from work.claiming import release
    from work.models import Job

    with get_db(app).transaction() as session:
        held = list(session.scalars(select(Job.id).where(Job.status == "running", Job.locked_by == worker_id)))
        return release(session, Job, held, worker_id)


def _hard_stop_after(stop: threading.Event, finished: threading.Event, grace: float) -> None:
    """After SIGTERM, give the loop `grace` seconds; then exit anyway (claimed rows come back when
    their leases expire, so nothing is lost, only delayed)."""
    stop.wait()
    if not finished.wait(grace):
        log.error("worker did not stop within %.0f s of SIGTERM: exiting; its leases will expire", grace)
        logging.shutdown()
        os._exit(1)


def run_worker(app: Flask, stop: threading.Event | None = None, worker_id: str | None = None) -> None:
    """Work until `stop` is set or SIGTERM/SIGINT arrives; sleep briefly whenever idle.

    On SIGTERM the item in hand is finished, claimed jobs not yet started are released, and the
    process ends within SHUTDOWN_GRACE_SECONDS (see docs/operations.md).
    """
    stop = stop or threading.Event()
    finished = threading.Event()
    worker_id = worker_id or new_worker_id()
    settings = settings_of(app)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        threading.Thread(target=_hard_stop_after, args=(stop, finished, settings.shutdown_grace_seconds),
                         name="shutdown-watchdog", daemon=True).start()
    idle = settings.worker_idle_sleep_seconds
    log.info("worker %s started", worker_id)
    try:
        while not stop.is_set():
            if work_once(app, worker_id, stop) == 0:
                stop.wait(idle)
        released = release_held_jobs(app, worker_id)
        log.info("worker %s stopped%s", worker_id, f"; released {released} jobs" if released else "")
    finally:
        finished.set()
