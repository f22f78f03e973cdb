"""Exactly once: a worker killed mid-batch, two workers at once, an expired lease."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, func, select, update

import db as dbmod
from tests.automations.helpers import load, outbox, template

WELCOME = """
automations:
  - key: welcome
    name: ようこそ
    trigger: {type: record_created, object: Contact}
    actions: [{type: send_mail, template: welcome}]
"""


def _plan(app, n):
    """n new Contacts → n planned welcome steps due now."""
    from automations.jobs import process_events
    from sync.mirror import apply_records

    template(app, "welcome")
    load(app, WELCOME)
    stamp = datetime(2026, 1, 1, tzinfo=UTC).isoformat()
    records = [{"Id": f"003{i:012d}AAA", "SystemModstamp": stamp, "LastName": f"会員{i}",
                "Email": f"member{i}@example.jp"} for i in range(n)]
    with dbmod.get_db(app).transaction() as session:
        apply_records(session, "Contact", records, "poll")
    with app.app_context():
        while process_events("planner"):
            pass


def _counts(app, engine=None):
    from automations.models import PlannedStep

    query = select(PlannedStep.status, func.count()).group_by(PlannedStep.status)
    if engine is not None:
        with engine.connect() as conn:
            return dict(conn.execute(query).all())
    with dbmod.get_db(app).transaction() as session:
        return dict(session.execute(query).all())


def _assert_each_step_sent_once(app, n):
    mails = outbox(app)
    assert len(mails) == n
    assert len({m.to_address for m in mails}) == n
    assert _counts(app) == {"sent": n}


WORKER = textwrap.dedent("""
    import sys
    from app import create_app
    from automations.jobs import run_steps
    app = create_app({"environ": {"SECRET_KEY": "k", "PUBLIC_BASE_URL": "http://localhost"},
                      "instance_path": sys.argv[2],
                      "settings": {"database_url": sys.argv[1], "automations_step_batch": 40}})
    with app.app_context():
        while run_steps("doomed-worker"):
            pass
""")


@pytest.mark.slow
def test_a_worker_killed_mid_batch_loses_nothing_and_repeats_nothing(app, database_url, tmp_path):
    n = 1500
    _plan(app, n)
    proc = subprocess.Popen([sys.executable, "-c", WORKER, database_url, str(tmp_path / "worker")],
                            cwd=os.getcwd(), stderr=subprocess.PIPE)
    # A plain reader: on SQLite it does not queue for the write lock the worker keeps taking.
    reader = create_engine(database_url)
    deadline = time.monotonic() + 60
    try:
        # Kill it as soon as at least one batch is committed and the rest is not.
        while time.monotonic() < deadline and proc.poll() is None:
            if _counts(app, reader).get("sent", 0) > 0:
                break
            time.sleep(0.002)
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        if proc.stderr:
            proc.stderr.close()
        reader.dispose()
    done_before_restart = _counts(app).get("sent", 0)
    assert 0 < done_before_restart < n
    from automations.jobs import run_steps

    with app.app_context():
        while run_steps("restarted-worker"):
            pass
    _assert_each_step_sent_once(app, n)


def test_two_workers_at_once_never_send_twice(app):
    from automations.jobs import run_steps

    n = 300
    _plan(app, n)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(name):
        try:
            with app.app_context():
                barrier.wait()
                while run_steps(name):
                    pass
        except BaseException as exc:  # re-raised in the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    _assert_each_step_sent_once(app, n)


def test_a_step_whose_worker_died_after_claiming_runs_again_once_its_lease_expires(app):
    from automations.jobs import run_steps
    from automations.models import PlannedStep

    _plan(app, 3)
    with dbmod.get_db(app).transaction() as session:
        session.execute(update(PlannedStep).values(status="running", locked_by="dead",
                                                   locked_until=datetime.now(UTC) + timedelta(minutes=5)))
    with app.app_context():
        assert run_steps("alive") == 0
    with dbmod.get_db(app).transaction() as session:
        session.execute(update(PlannedStep).values(locked_until=datetime.now(UTC) - timedelta(seconds=1)))
    with app.app_context():
        assert run_steps("alive") == 3
        assert run_steps("alive") == 0
    _assert_each_step_sent_once(app, 3)


def test_a_failing_step_is_retried_and_then_marked_failed_with_the_reason(app):
    from automations.jobs import run_steps
    from automations.models import PlannedStep

    load(app, WELCOME.replace("template: welcome", "template: no-such-template"))
    from sync.mirror import apply_records

    with dbmod.get_db(app).transaction() as session:
        apply_records(session, "Contact", [{"Id": "003000000000001AAA", "SystemModstamp": "2026-01-01T00:00:00Z",
                                            "LastName": "x", "Email": "x@example.jp"}], "poll")
    from automations.jobs import process_events

    later = datetime.now(UTC)
    with app.app_context():
        process_events("p")
        for _ in range(5):
            later += timedelta(hours=2)
            run_steps("w", now=later)
    with dbmod.get_db(app).transaction() as session:
        step = session.scalars(select(PlannedStep)).one()
        assert step.status == "failed"
        assert "no-such-template" in (step.last_error or "")
    assert outbox(app) == []
