"""The worker loop and the housekeeping job."""

from __future__ import annotations

import threading
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
