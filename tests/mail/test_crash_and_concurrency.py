"""Exactly once across worker crashes and concurrent workers, counted by Message-ID at a real SMTP sink."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

import db
from mail.models import OutboxMail
from mail.outbox import enqueue_mails
from mail.templates import save_template

ROOT = Path(__file__).resolve().parents[2]


def _start_worker(name: str, database_url: str, sink_url: str, tmp_path: Path, **env: str) -> subprocess.Popen:
    environ = {**os.environ, "DATABASE_URL": database_url, "SMTP_URL": sink_url, "SECRET_KEY": "test-secret-key",
               "PUBLIC_BASE_URL": "https://mail.example.jp", "MAIL_FROM": "shop <news@example.jp>",
               "MAIL_RETRY_BASE_SECONDS": "0", **env}
    process = subprocess.Popen([sys.executable, "-m", "tests.mail.worker_process", name, str(tmp_path / name)],
                               cwd=ROOT, env=environ, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process


def _queue(app, count: int) -> set[str]:
    with app.app_context(), db.transaction() as session:
        save_template(session, key="bulk", name="bulk", subject="{{ person.LastName }} 様へ",
                      html="<p>{{ data.n }}</p>")
        enqueue_mails(session, [{"send_key": f"bulk-{n}", "to": f"user{n}@example.jp", "template_key": "bulk",
                                 "context": {"person": {"LastName": f"様{n}"}, "data": {"n": n},
                                             "consent_basis": "existing_relationship"}}
                                for n in range(count)])
    with db.get_db(app).sessionmaker() as session:
        return set(session.scalars(select(OutboxMail.message_id)))


def _wait_until_all_final(app, timeout: float) -> list[OutboxMail]:
    deadline = time.monotonic() + timeout
    while True:
        with db.get_db(app).sessionmaker() as session:
            open_rows = session.scalar(select(func.count()).select_from(OutboxMail).where(
                OutboxMail.status.in_(("queued", "running", "sending"))))
            if open_rows == 0:
                return list(session.scalars(select(OutboxMail)))
        if time.monotonic() > deadline:
            raise TimeoutError(f"{open_rows} mails still not final")
        time.sleep(0.1)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.slow
def test_worker_killed_mid_batch_loses_nothing_and_sends_nothing_twice(make_app, database_url, smtp_sink, tmp_path):
    app = make_app()
    expected = _queue(app, 60)
    killed = threading.Event()
    first = None

    def kill_on_15th(_mail) -> None:
        # Runs inside the sink before it answers: the worker dies waiting for this 250.
        if len(smtp_sink.messages) == 15 and not killed.is_set() and first is not None:
            os.kill(first.pid, signal.SIGKILL)
            killed.set()

    smtp_sink.delay = 0.03
    smtp_sink.on_message = kill_on_15th
    # One connection: the kill lands while the worker waits for the 250 of the 15th mail, the
    # case this test is about. With two, a second mail can be killed in the documented gap between
    # its 'sending' commit and its final "." (mail/sender.py): lost by design rather than doubled,
    # so the outcome would depend on timing. Pooled sending is covered by the two-worker test.
    first = _start_worker("first", database_url, smtp_sink.url, tmp_path, MAIL_BATCH_SIZE="20",
                          MAIL_SMTP_CONNECTIONS="1", WORKER_LEASE_SECONDS="2")
    try:
        assert killed.wait(30), "the sink never saw 15 messages"
        first.wait(timeout=10)
        assert first.returncode == -signal.SIGKILL
        smtp_sink.delay = 0.0
        second = _start_worker("second", database_url, smtp_sink.url, tmp_path, MAIL_BATCH_SIZE="20",
                               MAIL_SMTP_CONNECTIONS="2", WORKER_LEASE_SECONDS="2")
        try:
            rows = _wait_until_all_final(app, timeout=60)
        finally:
            _stop(second)
    finally:
        _stop(first)
    received = smtp_sink.message_ids()
    assert len(received) == len(set(received)), "a mail was sent twice"
    assert set(received) == expected, "a mail was lost"
    assert {row.status for row in rows} == {"sent"}
    assert any(row.unconfirmed for row in rows)  # the one the worker died waiting for


@pytest.mark.slow
def test_two_workers_share_the_outbox_without_duplicates(make_app, database_url, smtp_sink, tmp_path):
    app = make_app()
    expected = _queue(app, 300)
    workers = [_start_worker(name, database_url, smtp_sink.url, tmp_path, MAIL_BATCH_SIZE="25",
                             MAIL_SMTP_CONNECTIONS="2") for name in ("w1", "w2")]
    try:
        rows = _wait_until_all_final(app, timeout=90)
    finally:
        for worker in workers:
            _stop(worker)
    received = smtp_sink.message_ids()
    assert len(received) == len(set(received)) == 300
    assert set(received) == expected
    assert {row.status for row in rows} == {"sent"}
    assert len({row.locked_by for row in rows}) == 1  # released (None) after sending
