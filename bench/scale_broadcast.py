"""A broadcast to a whole made-up mirror on PostgreSQL, with a 不在 follow-up made while it runs.

    .venv/bin/python -m bench.scale_broadcast [--people 100000] [--workers 2] [--plan-only]
        [--database-url postgresql://…]

Builds its own mirror with set-based SQL (INSERT … SELECT generate_series): N people, 60 %
Contacts and 40 % Leads; every 20th record (5 %) has the address of the record before it, in
another case (`Member12@Example.jp` beside `member12@example.jp`), half of them a Lead beside a
Contact; each person has an opt-in consent row (the broadcast is advertising mail). Then real
worker processes (`work.worker.run_worker`, as `flask work worker`) plan and send a broadcast to
everyone (campaign logging: the CampaignMember status, the broadcast default) into an aiosmtpd
sink in its own process, and once the first chunk is entered one Contact's
Visit_Result__c becomes 不在 (through `sync.mirror.apply_records`, as a poll would).

Prints one JSON line:
- `broadcast_plan_s`: the tick job enqueued → the run marked planned;
- `broadcast_peak_rss_mb`: the largest peak resident memory (VmHWM) of the worker processes;
- `broadcast_duplicate_addresses`: broadcast mails accepted by the sink beyond one per
  lower-cased address; `smtp_accepted`: every mail the sink accepted (broadcast and follow-up);
- `absent_followup_during_broadcast_s`: the 不在 change committed → its mail accepted by the sink;
- `broadcast_end_to_end_per_s`: people mailed / (tick enqueued → last broadcast mail accepted),
  with `mail.log_tasks` enqueued every 5 s as the clock would (the write-backs it queues are not
  sent: there is no org);
- `outbox_mails_per_s`: afterwards, in the same run, database and sink, bench/mail's figure:
  `--outbox-n` mails enqueued directly and drained by one in-process OutboxSender.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from bench.common import fresh_postgres, smtp_server

DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1/tsunagi_bench_scale_broadcast"
ABSENT_TO = "absent-followup@example.jp"
ABSENT_ID = "003999999999999AAA"
CAMPAIGN_ID = "701000000000001AAA"
OWNER_ID = "005000000000001AAA"


# --- the sink ------------------------------------------------------------------------------
def _sink(port: int, ready: Any, conn: Any) -> None:
    """aiosmtpd in its own process: per lower-cased recipient counts, arrival times."""
    state: dict[str, Any] = {"total": 0, "by_rcpt": {}, "first": None, "last": None, "absent_at": None,
                             "last_bulk": None}

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            now = time.time()
            for rcpt in envelope.rcpt_tos:
                key = rcpt.lower()
                state["by_rcpt"][key] = state["by_rcpt"].get(key, 0) + 1
                if key == ABSENT_TO and state["absent_at"] is None and "ご不在" in _subject(envelope):
                    state["absent_at"] = now
            state["total"] += 1
            state["first"] = state["first"] or now
            state["last"] = now
            return "250 OK"

    async def main() -> None:
        server = await smtp_server(Handler, port)
        ready.set()
        while True:
            while not conn.poll():
                await asyncio.sleep(0.02)
            request = conn.recv()
            if request == "stop":
                break
            if request == "reset":
                state.update(total=0, by_rcpt={}, first=None, last=None, absent_at=None)
                conn.send(True)
                continue
            by = state["by_rcpt"]
            conn.send({"total": state["total"], "distinct": len(by), "first": state["first"], "last": state["last"],
                       "absent_at": state["absent_at"],
                       "duplicates": sum(c - 1 for a, c in by.items() if c > 1 and a != ABSENT_TO)})
        server.close()

    asyncio.run(main())


def _subject(envelope: Any) -> str:
    import email
    import email.policy

    message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
    return str(message.get("Subject", ""))


class SinkProcess:
    """The sink in a child process; `stats()` asks it for its counts."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        ready = ctx.Event()
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_sink, args=(self.port, ready, child), daemon=True)
        self._process.start()
        if not ready.wait(30):
            raise RuntimeError("sink did not start")

    def stats(self) -> dict[str, Any]:
        """Counts and arrival times so far."""
        self._conn.send("stats")
        return self._conn.recv()

    def reset(self) -> None:
        """Forget everything received so far."""
        self._conn.send("reset")
        self._conn.recv()

    def close(self) -> None:
        """Stop the sink process."""
        self._conn.send("stop")
        self._process.join(10)


# --- data --------------------------------------------------------------------------------
BUILD_MIRROR = """
INSERT INTO mirror_records (sf_id, object_name, fields, system_modstamp, is_deleted, first_seen_at, last_seen_at,
                            last_source, email_key)
SELECT id, obj, jsonb_build_object('Id', id, 'LastName', '会員' || i, 'FirstName', '太郎', 'Email', email,
                                   'HasOptedOutOfEmail', false, 'OwnerId', CAST(:owner AS text), 'State', '東京都'),
       now() - interval '1 day', false, now(), now(), 'initial', lower(email)
FROM (SELECT i, CASE WHEN i % 5 < 3 THEN 'Contact' ELSE 'Lead' END AS obj,
             CASE WHEN i % 5 < 3 THEN '003' ELSE '00Q' END || lpad(i::text, 12, '0') || 'AAA' AS id,
             CASE WHEN i % 20 = 0 THEN 'Member' || (i - 1) || '@Example.jp' ELSE 'member' || i || '@example.jp' END
               AS email
      FROM generate_series(1, CAST(:n AS integer)) AS i) AS people
"""


# Every person opted in a month ago (as a form's opt-in box or an import records it): the broadcast
# is advertising mail, which the outbox sends only to an address whose latest consent is an opt-in
# (mail.consent, 特定電子メール法 第3条). One row per record, Lead/Contact duplicates included.
RECORD_CONSENTS = """
INSERT INTO mail_consents (address, person_id, granted, source, details, occurred_at)
SELECT email_key, sf_id, true, 'import', '{}', now() - interval '30 days'
FROM mirror_records WHERE object_name IN ('Lead', 'Contact') AND email_key IS NOT NULL
"""


def build_mirror(engine: Any, people: int) -> float:
    """Insert `people` made-up Leads and Contacts, the follow-up's Contact and its owner, and an opt-in
    consent for each of them; seconds taken."""
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text(BUILD_MIRROR), {"n": people, "owner": OWNER_ID})
        conn.execute(text("""
INSERT INTO mirror_records (sf_id, object_name, fields, system_modstamp, is_deleted, first_seen_at, last_seen_at,
                            last_source, email_key) VALUES
 (CAST(:absent AS text), 'Contact', jsonb_build_object('Id', CAST(:absent AS text), 'LastName', '不在', 'Email',
   CAST(:to AS text), 'OwnerId', CAST(:owner AS text),
   'HasOptedOutOfEmail', false, 'Visit_Result__c', '在宅'), now() - interval '1 day', false, now(), now(), 'initial',
   CAST(:to AS text)),
 (CAST(:owner AS text), 'User',
   jsonb_build_object('Id', CAST(:owner AS text), 'LastName', '営業', 'Email', 'rep@example.jp'),
   now() - interval '1 day', false, now(), now(), 'initial', 'rep@example.jp'),
 (CAST(:campaign AS text), 'Campaign', jsonb_build_object('Id', CAST(:campaign AS text), 'Name', '年末のご案内'),
   now() - interval '1 day', false, now(), now(), 'initial', NULL)
"""), {"absent": ABSENT_ID, "to": ABSENT_TO, "owner": OWNER_ID, "campaign": CAMPAIGN_ID})
        conn.execute(text(RECORD_CONSENTS))
        conn.execute(text("ANALYZE mirror_records"))
        conn.execute(text("ANALYZE mail_consents"))
    return time.perf_counter() - started


AUTOMATIONS = """
templates:
  - key: news
    name: 年末のご案内
    subject: "{{ person.LastName }} 様 年末のご案内"
    html: "<p>{{ person.LastName }} {{ person.FirstName | default('') }} 様</p><p>担当: {{ owner.LastName }}</p>"
  - key: absent
    name: 不在フォロー
    subject: "本日はご不在のためお会いできませんでした"
    html: "<p>{{ person.LastName }} 様、本日はご不在でした。</p>"
segments:
  - key: everyone
    name: 全員
automations:
  - key: year-end
    name: 年末一斉配信
    trigger: {type: broadcast, segment: everyone, at: "AT", campaign_id: CAMPAIGN}
    steps:
      - wait: WAIT
        actions:
          - {type: send_mail, template: news}
  - key: absent
    name: 不在フォロー
    trigger: {type: field_changed, object: Contact, field: Visit_Result__c, to: 不在}
    actions:
      - {type: send_mail, template: absent}
"""


def _load_automations(app: Any, at: datetime, plan_only: bool) -> None:
    from automations import service
    from db import transaction
    from mail.templates import save_template

    doc = service.parse_yaml(AUTOMATIONS.replace("AT", at.isoformat()).replace("CAMPAIGN", CAMPAIGN_ID)
                             .replace("WAIT", "{days: 1}" if plan_only else "{}"))
    with app.app_context(), transaction() as session:
        for t in doc.pop("templates"):
            save_template(session, **t)
        service.load_documents(session, doc, True)


# --- workers -----------------------------------------------------------------------------
def _worker(environ: dict[str, str], instance: str) -> None:
    """One worker process, as `flask work worker` runs it (stops on SIGTERM)."""
    from app import create_app
    from work.worker import run_worker

    app = create_app({"instance_path": instance, "environ": environ})
    run_worker(app)


def _peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _wait(condition: Callable[[], bool], timeout: float, every: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return False


# --- the measurement -----------------------------------------------------------------------
def measure(database_url: str, smtp_host: str, smtp_port: int, people: int = 100_000, workers: int = 2,
            plan_only: bool = False, outbox_n: int = 20_000, sink: SinkProcess | None = None,
            timeout_s: float = 3600.0, settings: dict[str, str] | None = None) -> dict[str, Any]:
    """Build the mirror in `database_url` (PostgreSQL, emptied first), run the broadcast, return the figures.

    `sink` (optional) gives SMTP arrival times; without it the outbox's sent_at is used (later than
    the server's acceptance by up to one chunk of a connection).
    """
    from sqlalchemy import create_engine

    from migrations import upgrade

    fresh = fresh_postgres(database_url, "scale_broadcast")
    if fresh is None:
        raise SystemExit("bench.scale_broadcast: PostgreSQL is not reachable")
    upgrade(fresh)
    engine = create_engine(fresh)
    build_s = build_mirror(engine, people)
    instance = tempfile.mkdtemp(prefix="bench-scale-broadcast-")
    environ = {
        "DATABASE_URL": fresh, "SECRET_KEY": "bench-secret", "SMTP_URL": f"smtp://{smtp_host}:{smtp_port}",
        "PUBLIC_BASE_URL": "https://mail.example.jp", "MAIL_FROM": "つなぎ生協 <news@example.jp>",
        "MAIL_SENDER_NAME": "つなぎ生協", "MAIL_SENDER_ADDRESS": "東京都千代田区丸の内1-1-1",
        "MAIL_CONTACT": "03-1234-5678", "MAIL_SMTP_CONNECTIONS": "4", "MAIL_BATCH_SIZE": "500",
        "AUTOMATIONS_STEP_BATCH": "500", "WORKER_IDLE_SLEEP_SECONDS": "0.2",
        **(settings or {}),
    }
    from app import create_app
    from db import transaction
    from work.queue import enqueue

    app = create_app({"instance_path": instance, "environ": environ})
    at = datetime.now(UTC) - timedelta(minutes=1)
    _load_automations(app, at, plan_only)

    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(environ, instance), daemon=True) for _ in range(workers)]
    for p in procs:
        p.start()
    time.sleep(3)  # let the workers import and connect
    if sink is not None:
        sink.reset()

    def scalar(sql: str, **params: Any) -> Any:
        with engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    t0 = time.time()
    with app.app_context(), transaction() as session:
        enqueue(session, "automations.tick", {}, dedupe_key="bench:tick")
    _wait(lambda: (scalar("SELECT coalesce(max(entered), 0) FROM automation_broadcast_runs") or 0) > 0, timeout_s)

    from sync.mirror import apply_records

    with app.app_context(), transaction() as session:
        apply_records(session, "Contact", [{"Id": ABSENT_ID, "SystemModstamp": datetime.now(UTC).isoformat(),
                                            "LastName": "不在", "Email": ABSENT_TO, "OwnerId": OWNER_ID,
                                            "HasOptedOutOfEmail": False, "Visit_Result__c": "不在"}], "poll")
    t_change = time.time()

    planned = _wait(lambda: scalar("SELECT count(*) FROM automation_broadcast_runs WHERE status = 'planned'") == 1,
                    timeout_s, every=0.2)
    plan_s = time.time() - t0 if planned else None
    absent_s = None
    if sink is not None:
        _wait(lambda: sink.stats()["absent_at"] is not None, 120, every=0.05)
        arrived = sink.stats()["absent_at"]
        absent_s = round(arrived - t_change, 2) if arrived else None
    else:
        _wait(lambda: scalar("SELECT count(*) FROM mail_outbox WHERE template_key = 'absent' AND status = 'sent'")
              == 1, 120)
        sent = scalar("SELECT extract(epoch FROM sent_at) FROM mail_outbox WHERE template_key = 'absent'")
        absent_s = round(float(sent) - t_change, 2) if sent else None
    entered = scalar("SELECT entered FROM automation_broadcast_runs")
    folded = scalar("SELECT folded FROM automation_broadcast_runs")
    end_to_end = duplicates = accepted = None
    last_log = time.monotonic()
    if not plan_only:
        def all_sent() -> bool:
            nonlocal last_log
            if time.monotonic() - last_log > 5:  # the clock's mail.log_tasks, every 5 s instead of 60
                with app.app_context(), transaction() as session:
                    enqueue(session, "mail.log_tasks", {}, dedupe_key=f"bench:log:{int(time.time())}")
                last_log = time.monotonic()
            return scalar("SELECT count(*) FROM mail_outbox WHERE template_key = 'news' AND status IN "
                          "('sent', 'failed', 'bounced', 'skipped')") >= entered
        _wait(all_sent, timeout_s, every=0.5)
        if sink is not None:
            _wait(lambda: sink.stats()["total"] >= entered + 1, 60)
            stats = sink.stats()
            last = stats["last"]
            duplicates = stats["duplicates"]
            accepted = stats["total"]
        else:
            last = float(scalar("SELECT extract(epoch FROM max(sent_at)) FROM mail_outbox WHERE template_key='news'"))
            duplicates = scalar("SELECT count(*) - count(DISTINCT lower(to_address)) FROM mail_outbox "
                                "WHERE template_key = 'news' AND status = 'sent'")
        end_to_end = round(entered / (last - t0), 1) if last else None  # None: the sink got no mail
    peak = max(_peak_rss_mb(p.pid) for p in procs)
    for p in procs:
        os.kill(p.pid, signal.SIGTERM)
    stopped_at = time.monotonic()
    for p in procs:
        p.join(60)
    stop_s = round(time.monotonic() - stopped_at, 2)
    statuses = {}
    with engine.connect() as conn:
        statuses = dict(conn.execute(text("SELECT status, count(*) FROM mail_outbox GROUP BY status")).all())
        writebacks = dict(conn.execute(text("SELECT object_name, count(*) FROM writeback_items GROUP BY 1")).all())

    outbox_per_s = None if plan_only else _outbox_rate(app, outbox_n)
    engine.dispose()
    from db import get_db

    get_db(app).dispose()
    return {
        "people": people, "workers": workers, "mirror_build_s": round(build_s, 1),
        "broadcast_plan_s": round(plan_s, 1) if plan_s is not None else None,
        "broadcast_peak_rss_mb": peak, "broadcast_entered": entered, "broadcast_folded": folded,
        "broadcast_duplicate_addresses": duplicates, "smtp_accepted": accepted,
        "absent_followup_during_broadcast_s": absent_s,
        "broadcast_end_to_end_per_s": end_to_end, "outbox_mails_per_s": outbox_per_s,
        "end_to_end_share_of_outbox": round(end_to_end / outbox_per_s, 2) if end_to_end and outbox_per_s else None,
        "workers_stopped_after_sigterm_s": stop_s, "outbox_statuses": statuses, "writeback_items": writebacks,
        "cpus": os.cpu_count(), "plan_only": plan_only,
    }


def _outbox_rate(app: Any, n: int) -> float:
    """bench/mail's figure: n mails enqueued directly, drained by one in-process OutboxSender."""
    from db import transaction
    from mail.outbox import enqueue_mails
    from mail.sender import sender_for

    with app.app_context():
        people = [{"send_key": f"outbox-{i}", "to": f"outbox{i}@example.jp", "template_key": "news",
                   "context": {"person": {"LastName": f"山田{i}", "FirstName": "太郎"}, "owner": {"LastName": "営業"}},
                   "salesforce_log": "none"} for i in range(n)]
        with transaction() as session:
            # Advertising mail like the broadcast's: each address opted in (set-based, as build_mirror).
            session.execute(text(
                "INSERT INTO mail_consents (address, person_id, granted, source, details, occurred_at) "
                "SELECT 'outbox' || i || '@example.jp', NULL, true, 'import', '{}', now() - interval '30 days' "
                "FROM generate_series(0, CAST(:n AS integer) - 1) AS i"), {"n": n})
            enqueue_mails(session, people)
        sender = sender_for(app)
        started = time.perf_counter()
        while sender.process("bench-outbox") > 0:
            pass
        rate = n / (time.perf_counter() - started)
        sender.close()
    return round(rate, 1)


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, start the sink, measure, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--plan-only", action="store_true", help="plan only (steps due in a day): send nothing")
    parser.add_argument("--outbox-n", type=int, default=20_000)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE))
    args = parser.parse_args(argv)
    sink = SinkProcess()
    try:
        result = measure(args.database_url, "127.0.0.1", sink.port, people=args.people, workers=args.workers,
                         plan_only=args.plan_only, outbox_n=args.outbox_n, sink=sink)
    finally:
        sink.close()
    sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
