"""SIGTERM ends every process within a bound; a worker finishes or releases what it claimed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select

import db
from tests.ops.processes import reaped, terminate
from work import queue
from work.models import Job

ROOT = Path(__file__).resolve().parents[2]


def _env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TSUNAGI_", "SALESFORCE_", "SMTP_"))}
    env.update(PYTHONPATH=str(ROOT), SECRET_KEY="s" * 40, DATABASE_URL=database_url, LOG_FORMAT="json",
               WORKER_IDLE_SLEEP_SECONDS="0.05", **extra)
    return env


def _wait_for_line(process: subprocess.Popen, wanted: str, timeout: float = 60) -> list[str]:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line.strip())
        if line.strip() == wanted:
            return seen
    raise AssertionError(f"{wanted!r} not printed; saw {seen}")


def test_a_worker_finishes_the_job_in_hand_on_sigterm_and_leaves_the_rest_queued(app, tmp_path):
    database_url = app.config["TSUNAGI"].database_url
    with db.get_db(app).transaction() as session:
        for n in range(5):
            queue.enqueue(session, "test.slow", {"n": n, "seconds": 1.5})
    process = subprocess.Popen([sys.executable, "-m", "tests.ops.worker_process", str(tmp_path / "instance")],
                               cwd=ROOT, env=_env(database_url), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    with reaped(process):
        _wait_for_line(process, "started 0")
        with db.get_db(app).transaction() as session:
            claimed = session.scalars(select(Job).where(Job.status == "running")).all()
            # Jobs are claimed one at a time: nothing waits under this worker's lease behind a slow job.
            assert [job.payload["n"] for job in claimed] == [0]
        out, err, took = terminate(process)
    assert process.returncode == 0, err
    assert "exited" in out
    assert took < 10
    with db.get_db(app).transaction() as session:
        jobs = {job.payload["n"]: job for job in session.scalars(select(Job).where(Job.kind == "test.slow"))}
    assert jobs[0].status == "done"  # the job in hand was finished, not cut off
    for n in range(1, 5):
        job = jobs[n]
        assert (job.status, job.locked_by, job.locked_until) == ("queued", None, None), n
        assert job.attempts == 0  # never started here: no attempt counted


def test_a_worker_stuck_in_a_job_exits_after_the_grace_period_and_its_job_comes_back(app, tmp_path):
    database_url = app.config["TSUNAGI"].database_url
    with db.get_db(app).transaction() as session:
        queue.enqueue(session, "test.slow", {"n": 0, "seconds": 120})
    process = subprocess.Popen([sys.executable, "-m", "tests.ops.worker_process", str(tmp_path / "instance")],
                               cwd=ROOT, env=_env(database_url, SHUTDOWN_GRACE_SECONDS="2",
                                                  WORKER_LEASE_SECONDS="1"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with reaped(process):
        _wait_for_line(process, "started 0")
        _, err, took = terminate(process)
    assert process.returncode == 1 and 1.5 < took < 10, err
    assert "did not stop within 2 s of SIGTERM" in err
    time.sleep(1.1)  # the lease runs out: the job is due again for the next worker
    with db.get_db(app).transaction() as session:
        claimed = queue.claim_jobs(session, "next-worker", 10, 60)
        assert [job.payload["n"] for job in claimed] == [0]


def test_the_clock_stops_at_once_on_sigterm(app):
    process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "work", "clock"], cwd=ROOT,
                               env=_env(app.config["TSUNAGI"].database_url), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    with reaped(process):
        deadline = time.monotonic() + 60
        while True:
            line = process.stderr.readline()
            assert line and time.monotonic() < deadline, "the clock never said it started"
            if "clock started" in line:
                break
        _, err, took = terminate(process)
    assert process.returncode == 0, err
    assert took < 5 and "clock stopped" in err
