"""Mail throughput: N personalized mails through the outbox to an SMTP sink in another process.

    .venv/bin/python -m bench.mail [--quick] [--n 20000] [--database-url postgresql://…]

Prints one JSON line. `mails_per_s` is the outbox run (claim, render a template with merge fields
per recipient, compose with footer/tracking/List-Unsubscribe, SMTP over pooled connections,
record each outcome) from the first claim to the last outcome committed; `raw_ceiling_per_s`
is, in the same run and against the same sink, pre-built message bytes sent by a plain smtplib
loop over one connection. The sink counts Message-IDs, so duplicates and losses are reported.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import smtplib
import socket
import sys
import tempfile
import time
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench.common import fresh_postgres, smtp_server

DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1/tsunagi_bench_mail"
MARKER = b"\r\nMessage-ID: "


def _sink(port: int, ready: Any, counter: Any, conn: Any) -> None:
    """The sink process: an aiosmtpd server counting messages and distinct Message-IDs."""
    ids: set[bytes] = set()
    total = [0]

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            data = envelope.original_content or envelope.content
            at = data.find(MARKER)
            if at >= 0:
                ids.add(data[at + len(MARKER):data.find(b"\r\n", at + len(MARKER))])
            total[0] += 1
            counter.value = total[0]
            return "250 OK"

    async def main() -> None:
        server = await smtp_server(Handler, port)
        ready.set()
        while not conn.poll():
            await asyncio.sleep(0.05)
        conn.recv()
        conn.send({"received": total[0], "distinct_ids": len(ids)})
        server.close()

    asyncio.run(main())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fresh_database(url: str) -> str:
    from config.settings import _database_url
    from migrations import upgrade

    url = _database_url(url)
    if url.startswith("postgresql"):
        fresh = fresh_postgres(url, "mail")
        if fresh is None:
            raise SystemExit("bench.mail: PostgreSQL is not reachable (or pass --database-url sqlite:///…)")
        url = fresh
    upgrade(url)
    return url


def _raw_ceiling(port: int, count: int, message: bytes) -> float:
    with smtplib.SMTP("127.0.0.1", port, local_hostname="bench.localhost") as client:
        client.sendmail("news@example.jp", ["raw@example.jp"], message)  # warm up
        started = time.perf_counter()
        for _ in range(count):
            client.sendmail("news@example.jp", ["raw@example.jp"], message)
        return count / (time.perf_counter() - started)


def run(n: int, database_url: str, connections: int, batch: int, raw_count: int) -> dict[str, Any]:
    """Run the whole benchmark and return its figures."""
    ctx = multiprocessing.get_context("spawn")
    port = _free_port()
    ready, counter = ctx.Event(), ctx.Value("q", 0)
    parent, child = ctx.Pipe()
    sink = ctx.Process(target=_sink, args=(port, ready, counter, child), daemon=True)
    sink.start()
    if not ready.wait(30):
        raise RuntimeError("sink did not start")

    url = _fresh_database(database_url)
    from app import create_app
    from db import get_db, transaction
    from mail.message import Sender, build_message
    from mail.outbox import enqueue_mails
    from mail.sender import sender_for
    from mail.templates import save_template

    instance = tempfile.mkdtemp(prefix="bench-mail-")
    app = create_app({"instance_path": instance, "environ": {
        "DATABASE_URL": url, "SECRET_KEY": "bench-secret", "SMTP_URL": f"smtp://127.0.0.1:{port}",
        "PUBLIC_BASE_URL": "https://mail.example.jp", "MAIL_FROM": "つなぎ商店 <news@example.jp>",
        "MAIL_SENDER_NAME": "株式会社つなぎ商店", "MAIL_SENDER_ADDRESS": "東京都千代田区丸の内1-1-1",
        "MAIL_CONTACT": "03-1234-5678", "MAIL_SMTP_CONNECTIONS": str(connections), "MAIL_BATCH_SIZE": str(batch),
    }})
    with app.app_context():
        with transaction() as session:
            save_template(
                session, key="bench", name="bench", subject="{{ person.LastName }} 様へ 今週のおすすめ ({{ data.n }})",
                html=("<html><body><h1>{{ person.LastName }} {{ person.FirstName | default('') }} 様</h1>"
                      "<p>いつもご利用ありがとうございます。{{ account.Name | default('') }}</p>"
                      "<p>今週のおすすめ: "
                      "<a href=\"https://shop.example.jp/items/{{ data.n }}\">商品 {{ data.n }}</a></p>"
                      "<p>ポイント残高: {{ data.points }} pt</p></body></html>"),
            )
        people = [{"send_key": f"bench-{i}", "to": f"member{i}@example.jp", "template_key": "bench",
                   "context": {"person": {"LastName": f"山田{i}", "FirstName": "太郎"},
                               "account": {"Name": "つなぎ生協"}, "data": {"n": i, "points": i * 7 % 5000},
                               # members of the co-op: an existing business relationship (mail.consent)
                               "consent_basis": "existing_relationship"}}
                  for i in range(n)]
        started = time.perf_counter()
        with transaction() as session:
            enqueue_mails(session, people)
        enqueue_s = time.perf_counter() - started

        sample = build_message(sender=Sender.parse("news@example.jp"), to="raw@example.jp", subject="raw",
                               html="<p>" + "本文" * 200 + "</p>", text="本文" * 200, message_id="<raw@example.jp>")
        raw_per_s = _raw_ceiling(port, raw_count, sample)
        base = counter.value

        sender = sender_for(app)
        started = time.perf_counter()
        while sender.process("bench-worker") > 0:
            pass
        send_s = time.perf_counter() - started
        sender.close()
        with get_db(app).engine.connect() as conn:
            statuses = dict(conn.execute(text("SELECT status, count(*) FROM mail_outbox GROUP BY status")).all())
        get_db(app).dispose()
    parent.send("report")
    report = parent.recv()
    sink.join(10)
    return {
        "n": n, "mails_per_s": round(n / send_s, 1), "raw_ceiling_per_s": round(raw_per_s, 1),
        "share_of_ceiling": round(n / send_s / raw_per_s, 3), "enqueue_per_s": round(n / enqueue_s, 1),
        "end_to_end_per_s": round(n / (send_s + enqueue_s), 1), "delivered": report["received"] - base,
        "distinct_message_ids": report["distinct_ids"] - 1, "statuses": statuses,
        "database": make_url(url).get_backend_name(), "smtp_connections": connections, "batch": batch,
        "cpus": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, run, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3,000 mails instead of 20,000")
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE))
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args(argv)
    n = args.n or (3000 if args.quick else 20000)
    result = run(n, args.database_url, args.connections, args.batch, raw_count=min(n, 5000))
    sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
