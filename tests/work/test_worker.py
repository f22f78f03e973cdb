"""The worker loop and the housekeeping job."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from sqlalchemy import select

import db
from work import queue, register_job_handler
from work.models import Job
from work.worker import run_jobs, run_worker


def test_worker_leaves_kinds_it_has_no_handler_for_to_other_workers(app):
    register_job_handler(app, "known", lambda payload: None)
    with db.get_db(app).transaction() as session:
        queue.enqueue(session, "known")
        queue.enqueue(session, "from.a.newer.release")
    assert run_jobs(app, "old-worker") == 1
    with db.get_db(app).transaction() as session:
        statuses = dict(session.execute(select(Job.kind, Job.status)).all())
    assert statuses == {"known": "done", "from.a.newer.release": "queued"}


def test_running_worker_picks_up_a_job_enqueued_later_and_stops_on_request(app):
    done = threading.Event()
    register_job_handler(app, "ping", lambda payload: done.set())
    stop = threading.Event()
    thread = threading.Thread(target=run_worker, args=(app, stop, "w-test"), daemon=True)
    thread.start()
    with db.get_db(app).transaction() as session:
        queue.enqueue(session, "ping")
    assert done.wait(timeout=20)
    stop.set()
    thread.join(timeout=20)
    assert not thread.is_alive()


def test_cleanup_deletes_done_jobs_older_than_seven_days_only(app):
    now = db.utcnow()
    with db.get_db(app).transaction() as session:
        for kind, status, age_days in [("old-done", "done", 8), ("recent-done", "done", 6),
                                       ("old-dead", "dead", 30), ("waiting", "queued", 0)]:
            session.add(Job(kind=kind, status=status, payload={},
                            finished_at=now - timedelta(days=age_days) if status != "queued" else None))
        queue.enqueue(session, "work.cleanup")
    assert run_jobs(app, "w1") == 1
    with db.get_db(app).transaction() as session:
        kinds = set(session.scalars(select(Job.kind)))
    assert kinds == {"recent-done", "old-dead", "waiting", "work.cleanup"}


def test_people_cleanup_forgets_expired_sign_in_failures(app, client):
    from people.models import LoginThrottle

    for _ in range(2):
        client.post("/login", data={"email": "x@example.jp", "password": "wrong password"})
    with db.get_db(app).transaction() as session:
        row = session.scalars(select(LoginThrottle)).one()
        row.window_started_at = db.utcnow() - timedelta(hours=1)
        queue.enqueue(session, "people.cleanup")
    assert run_jobs(app, "w1") == 1
    with db.get_db(app).transaction() as session:
        assert session.scalars(select(LoginThrottle)).all() == []


def test_a_job_running_longer_than_its_lease_is_not_taken_by_a_second_worker(make_app):
    app = make_app(worker_lease_seconds=1)
    started, release, runs = threading.Event(), threading.Event(), []

    def long_job(payload):
        runs.append(payload)
        started.set()
        release.wait(timeout=30)

    register_job_handler(app, "broadcast.like", long_job)
    with db.get_db(app).transaction() as session:
        queue.enqueue(session, "broadcast.like", {"n": 1})
    first = threading.Thread(target=run_jobs, args=(app, "worker-1"), daemon=True)
    first.start()
    assert started.wait(timeout=20)
    # Three leases long, a second worker keeps looking for due jobs: the heartbeat keeps it away.
    deadline = time.monotonic() + 3.5
    while time.monotonic() < deadline:
        assert run_jobs(app, "worker-2") == 0
        time.sleep(0.2)
    release.set()
    first.join(timeout=20)
    with db.get_db(app).transaction() as session:
        job = session.scalars(select(Job)).one()
        assert (job.status, job.attempts) == ("done", 1)
    assert runs == [{"n": 1}]


def test_sigterm_asks_a_long_job_to_stop_and_it_is_queued_again_without_counting_an_attempt(make_app):
    from work.running import CONTINUE, should_stop

    app = make_app(worker_lease_seconds=2)
    chunks: list[int] = []

    def chunked(payload):
        while not should_stop():
            chunks.append(len(chunks))
            time.sleep(0.05)
        return CONTINUE

    register_job_handler(app, "chunked", chunked)
    with db.get_db(app).transaction() as session:
        queue.enqueue(session, "chunked", max_attempts=1)
    stop = threading.Event()
    thread = threading.Thread(target=run_worker, args=(app, stop, "w-term"), daemon=True)
    thread.start()
    while not chunks:
        time.sleep(0.05)
    stop_at = time.monotonic()
    stop.set()  # what the SIGTERM handler does
    thread.join(timeout=30)
    assert not thread.is_alive() and time.monotonic() - stop_at < 5
    with db.get_db(app).transaction() as session:
        job = session.scalars(select(Job).where(Job.kind == "chunked")).one()
        assert (job.status, job.attempts, job.locked_by) == ("queued", 0, None)


def test_a_job_past_its_timeout_is_asked_to_stop_and_carries_on_in_a_later_run(make_app):
    from work.running import CONTINUE, should_stop

    app = make_app(worker_job_timeout_seconds=1)
    runs = []

    def slow(payload):
        runs.append(time.monotonic())
        if len(runs) == 1:
            while not should_stop():
                time.sleep(0.05)
            return CONTINUE
        return None

    register_job_handler(app, "slow", slow)
    with db.get_db(app).transaction() as session:
        queue.enqueue(session, "slow", max_attempts=1)
    assert run_jobs(app, "w1") == 2  # stopped after a second, queued again, then finished
    assert 0.9 < runs[1] - runs[0] < 5
    with db.get_db(app).transaction() as session:
        assert session.scalars(select(Job.status)).one() == "done"
