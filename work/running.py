"""What a running job knows about itself: its lease is kept alive, and whether it should stop.

While a handler runs, a heartbeat thread renews the job's lease (`locked_until`) every third of
the lease, so a job that takes longer than WORKER_LEASE_SECONDS is never taken by a second
worker; the lease still expires within one lease of the worker dying.

A long handler (a broadcast planning a million people) asks `should_stop()` between its committed
chunks and returns `CONTINUE` when it is true: on SIGTERM, after WORKER_JOB_TIMEOUT_SECONDS, or
when the heartbeat found the lease taken (the database was unreachable longer than a lease). The
worker then puts the job back in the queue, due now, without counting an attempt, and another
(or the same) worker carries on from the last committed chunk. A handler that never asks is still
safe: its lease stays renewed while it runs, the timeout is only logged.
"""

from __future__ import annotations

import logging
import threading
import time
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import update

from db import Database, rows_matched, utcnow
from work.models import Job

log = logging.getLogger(__name__)

# Returned by a handler that stopped early with work left: the job is queued again at once.
CONTINUE = "continue"


@dataclass
class RunningJob:
    """One job while its handler runs: id, deadline, stop request, lease status."""

    job_id: int
    worker_id: str
    deadline: float
    stop: threading.Event = field(default_factory=threading.Event)
    lease_lost: threading.Event = field(default_factory=threading.Event)

    def should_stop(self) -> bool:
        """True when the handler should commit what it has and return CONTINUE."""
        return self.stop.is_set() or self.lease_lost.is_set() or time.monotonic() >= self.deadline


_current: ContextVar[RunningJob | None] = ContextVar("tsunagi_running_job", default=None)


def current_job() -> RunningJob | None:
    """The job being run in this context (None outside a worker, e.g. in `flask automations run`)."""
    return _current.get()


def should_stop() -> bool:
    """True when the current job should stop at its next safe point (False outside a job)."""
    job = _current.get()
    return job is not None and job.should_stop()


def renew(database: Database, job_id: int, worker_id: str, lease_seconds: int) -> bool:
    """Push the lease of a running job one lease ahead; False if this worker no longer holds it."""
    with database.transaction() as session:
        return rows_matched(session,
            update(Job).where(Job.id == job_id, Job.locked_by == worker_id, Job.status == "running")
            .values(locked_until=utcnow() + timedelta(seconds=lease_seconds))
            .execution_options(synchronize_session=False)
        ) == 1


class Heartbeat:
    """A thread renewing one job's lease until `close()`; sets `job.lease_lost` if it is taken."""

    def __init__(self, database: Database, job: RunningJob, lease_seconds: int) -> None:
        self.database, self.job, self.lease_seconds = database, job, lease_seconds
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"job-heartbeat-{job.job_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        interval = max(0.2, self.lease_seconds / 3)
        while not self._done.wait(interval):
            try:
                if not renew(self.database, self.job.job_id, self.job.worker_id, self.lease_seconds):
                    log.error("job %s: lease taken by another worker; asking the handler to stop", self.job.job_id)
                    self.job.lease_lost.set()
                    return
            except Exception:  # the database is away: try again next beat, the lease has 2/3 left
                log.exception("job %s: lease renewal failed", self.job.job_id)


def running(job: RunningJob) -> Token[RunningJob | None]:
    """Make `job` the current job of this context; returns the token for `_current.reset`."""
    return _current.set(job)


def finished(token: Token[RunningJob | None]) -> None:
    """Undo `running()`."""
    _current.reset(token)
