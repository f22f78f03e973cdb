"""Many workers, two clocks by mistake, leases across sessions: nothing is done twice.

Run on SQLite (one writer) and on PostgreSQL (FOR UPDATE SKIP LOCKED) by `make test`.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

import db
from work import lease, queue
from work.clock import enqueue_periodic
from work.models import Job
from work.schedule import SCHEDULE

WORKERS = 4


def run_in_threads(count: int, target) -> list:
    """Start `count` threads at the same moment (a barrier) and return their results in order."""
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = target(index)
        except BaseException as exc:  # re-raised in the test's thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a worker thread hung"
    if errors:
        raise errors[0]
    return results


def test_concurrent_workers_claim_disjoint_jobs_and_every_job_once(app):
    database = db.get_db(app)
    with database.transaction() as session:
        for n in range(120):
            queue.enqueue(session, "demo", {"n": n})

    def worker(index: int) -> list[int]:
        claimed: list[int] = []
        while True:
            with database.transaction() as session:  # a session of its own, like a separate process
                jobs = queue.claim_jobs(session, f"w{index}", limit=7, lease_seconds=60)
                claimed += [job.id for job in jobs]
            if not jobs:
                return claimed

    per_worker = run_in_threads(WORKERS, worker)
    everything = [job_id for ids in per_worker for job_id in ids]
    assert len(everything) == 120 and len(set(everything)) == 120
    with database.transaction() as session:
        owners = dict(session.execute(select(Job.id, Job.locked_by)).all())
        attempts = set(session.scalars(select(Job.attempts)))
    for index, ids in enumerate(per_worker):
        assert all(owners[job_id] == f"w{index}" for job_id in ids)
    assert attempts == {1}


def test_postgresql_skips_rows_locked_by_an_open_claim_instead_of_waiting(app):
    database = db.get_db(app)
    if database.is_sqlite:
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite serialises writers instead")
    with database.transaction() as session:
        for n in range(10):
            queue.enqueue(session, "demo", {"n": n})
    with database.sessionmaker() as first:
        first.begin()
        held = {job.id for job in queue.claim_jobs(first, "w1", limit=4, lease_seconds=60)}
        # w1 has not committed: its rows are still 'queued' to everyone else, but locked.
        with database.sessionmaker() as second, second.begin():
            second.connection().exec_driver_sql("SET LOCAL lock_timeout = '2s'")
            taken = {job.id for job in queue.claim_jobs(second, "w2", limit=10, lease_seconds=60)}
        first.commit()
    assert len(held) == 4 and len(taken) == 6 and not held & taken


def test_two_clocks_enqueue_each_periodic_job_once_per_slot(make_app):
    clocks = [make_app(), make_app()]  # two clock processes started by mistake, one database
    entry = next(e for e in SCHEDULE if e.kind == "work.cleanup")
    slot_start = 1_800_000_000 // 3600 * 3600

    added = run_in_threads(2, lambda i: enqueue_periodic(clocks[i], entry, now=slot_start + 10 + i))
    assert sorted(added) == [False, True]
    assert enqueue_periodic(clocks[0], entry, now=slot_start + 3599) is False
    assert enqueue_periodic(clocks[1], entry, now=slot_start + 3600) is True  # the next slot
    with db.get_db(clocks[0]).transaction() as session:
        assert session.scalar(select(func.count()).select_from(Job).where(Job.kind == "work.cleanup")) == 2


def test_a_lease_has_one_holder_across_sessions_until_it_expires_or_is_released(app):
    database = db.get_db(app)

    def take(index: int) -> bool:
        with database.transaction() as session:
            return lease.acquire(session, "sync.cycle", f"holder{index}", seconds=60)

    won = run_in_threads(WORKERS, take)
    assert won.count(True) == 1
    winner = f"holder{won.index(True)}"
    other = next(f"holder{i}" for i in range(WORKERS) if f"holder{i}" != winner)

    with database.transaction() as session:
        assert lease.acquire(session, "sync.cycle", winner, seconds=60) is True  # renewal
        assert lease.acquire(session, "sync.cycle", other, seconds=60) is False
    with database.transaction() as session:
        lease.release(session, "sync.cycle", winner)
    with database.transaction() as session:
        assert lease.acquire(session, "sync.cycle", other, seconds=60) is True
    with database.transaction() as session:
        from work.models import Lease

        session.get(Lease, "sync.cycle").expires_at = db.utcnow() - timedelta(seconds=1)  # holder died
    with database.transaction() as session:
        assert lease.acquire(session, "sync.cycle", winner, seconds=60) is True
