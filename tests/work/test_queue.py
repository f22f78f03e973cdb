"""The job queue: dedupe, claim leases, retries."""

from datetime import timedelta

import db
from work import queue
from work.models import Job


def test_same_dedupe_key_enqueues_one_job(app):
    with db.get_db(app).transaction() as s:
        assert queue.enqueue(s, "x", dedupe_key="x:1") is True
        assert queue.enqueue(s, "x", dedupe_key="x:1") is False
    with db.get_db(app).transaction() as s:
        assert s.query(Job).count() == 1


def test_claimed_job_is_not_claimed_again_until_its_lease_expires(app):
    with db.get_db(app).transaction() as s:
        queue.enqueue(s, "x")
    with db.get_db(app).transaction() as s:
        assert len(queue.claim_jobs(s, "w1", 10, lease_seconds=60)) == 1
    with db.get_db(app).transaction() as s:
        assert queue.claim_jobs(s, "w2", 10, lease_seconds=60) == []
        job = s.query(Job).one()
        job.locked_until = db.utcnow() - timedelta(seconds=1)  # the first worker died
    with db.get_db(app).transaction() as s:
        claimed = queue.claim_jobs(s, "w2", 10, lease_seconds=60)
        assert [j.locked_by for j in claimed] == ["w2"]
        assert claimed[0].attempts == 2


def test_worker_runs_a_registered_job_and_retries_a_failing_one(app):
    from work import register_job_handler
    from work.worker import run_jobs

    seen = []
    register_job_handler(app, "ok", lambda payload: seen.append(payload["n"]))
    register_job_handler(app, "bad", lambda payload: 1 / 0)
    with db.get_db(app).transaction() as s:
        queue.enqueue(s, "ok", {"n": 7})
        queue.enqueue(s, "bad", {})
    assert run_jobs(app, "w1") == 2
    assert seen == [7]
    with db.get_db(app).transaction() as s:
        statuses = {j.kind: (j.status, j.last_error) for j in s.query(Job)}
    assert statuses["ok"][0] == "done"
    assert statuses["bad"][0] == "queued" and "ZeroDivisionError" in statuses["bad"][1]


def test_the_running_clock_enqueues_each_periodic_job_again_every_interval(make_app):
    import threading
    import time

    from sqlalchemy import func, select

    from work.clock import build_scheduler

    app = make_app(sync_interval_seconds=1)
    scheduler = build_scheduler(app)
    threading.Thread(target=scheduler.start, daemon=True).start()
    try:
        time.sleep(3.5)
    finally:
        scheduler.shutdown(wait=False)
    with db.get_db(app).transaction() as session:
        cycles = session.scalar(select(func.count()).select_from(Job).where(Job.kind == "sync.cycle"))
    # One at start, then one per second: a clock whose jobs never fire after start enqueues only 1.
    assert cycles >= 3
