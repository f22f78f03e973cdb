"""Benchmark of web tracking and scoring: page views ingested over HTTP, and a rescore of everybody.

    .venv/bin/python -m bench.tracking [--quick] [--postgresql URL] [--workers 2] [--threads 4]
                                       [--connections 16] [--client auto|wrk|asyncio]

Prints one JSON line:
- events_per_s: page views per second through GET /t/p.gif, as the /t/t.js snippet requests it
  (visitor id, URL, title, referrer; a browser's User-Agent; no DNT), served by the real app under
  gunicorn (`gunicorn.conf.py`: gthread; the Procfile's access log, here into a temporary file;
  bound to loopback) on PostgreSQL, migrated as the release step does, and driven over
  `connections` keep-alive connections for 20 s (--quick: 5 s) by wrk when it is installed
  (`make bench-tools`), else by an asyncio client in this process (bench/http_load.py).
  Only page views found stored in the database count: (rows after − rows before) / seconds.
- requests / stored_events: pixel requests answered 200 in that window and page-view rows the
  database gained in it (stored_events may exceed requests by the requests still in flight when
  the load stops; fewer would mean answered views were lost); errors: requests that failed.
- client: the load generator used (wrk or asyncio).
- latency_p50_ms / latency_p99_ms: per request as the client saw it (includes client queueing).
- gunicorn: workers × threads; connections: the client's keep-alive connections.
- http_floor_per_s: the same requests to gunicorn with the same settings and access log serving a
  constant GIF (`floor_app`: no Flask, no app code, no database) — what this machine's HTTP layer
  alone reaches, so no design of the pixel can beat it here; of_http_floor: events_per_s / it.
- no_write_ceiling_per_s: the real app with a crawler's User-Agent, which the pixel answers before
  any database work: HTTP + gunicorn + the pixel's checks.
- cpu_ms_per_event: CPU milliseconds per stored event of the gunicorn processes (web), of
  PostgreSQL (this database's backends plus its WAL/checkpoint processes) and of the load
  generator (client); no_write_web_cpu_ms: web CPU per crawler request; machine_busy_pct: the
  whole machine's CPU use during the window (other tenants included). Linux only, else null.
- people / ledger_rows / seed_s: 1,000,000 mirrored Leads and Contacts (--quick: 20,000) with the
  fields the fit rules read, and their scored activity (activities + score_events, spread over
  240 days so decay applies), bulk-loaded with set-based SQL.
- rescore_1m_s: seconds of scoring.service.rescore(session, None) in one transaction, as the
  `scoring.rescore` job runs it after an admin saves a changed model (every person already has a
  score row). rescore_people / rescore_changed / rescore_crossings: what it did; the hand-off of
  each crossing (Task and owner mail queued) is inside the time.
- rescore_first_s / rescore_first_crossings: the same call before, on the fresh load (a score row
  made for every mirrored person; the hot-lead template exists, as `flask scoring load` leaves it).
Targets: events_per_s ≥ 5,000 (PostgreSQL, gunicorn); rescore_1m_s has none yet. The scratch
database is created at the start and dropped at the end; without PostgreSQL every figure is null.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench import http_load, scale_data
from bench.common import drop_postgres, fresh_postgres

PG_DEFAULT = "postgresql://postgres@127.0.0.1/tsunagi_bench_tracking"
ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-tracking-secret-key-0123456789abcdef"
BROWSER = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/131.0.0.0 Safari/537.36")
PAGES = [("/", "トップ | 生活協同組合コープサンプル"), ("/pricing", "料金プラン | コープサンプル"),
         ("/products/vegetables", "産直野菜 | 商品一覧"), ("/products/rice?area=niigata", "新潟県産コシヒカリ"),
         ("/trial", "お試しセットのお申し込み"), ("/faq", "よくあるご質問"),
         ("/news/2026/11/winter-gift", "冬ギフト特集"), ("/company", "会社概要"),
         ("/pricing?plan=family", "ファミリープラン料金"), ("/blog/recipes/nabe", "鍋レシピ")]
REFERRERS = ["https://www.google.com/", "https://search.yahoo.co.jp/", "", "https://coop.example.jp/",
             "https://t.co/abc123", "https://www.instagram.com/"]


# --- events_per_s ----------------------------------------------------------------------------


def _pixel_requests(count: int, visitors: int, rng: random.Random) -> list[bytes]:
    """`count` distinct GET /t/p.gif requests as a browser sends them for the snippet's Image()."""
    ids = [f"{rng.getrandbits(128):032x}" for _ in range(visitors)]
    requests = []
    for _ in range(count):
        path, title = rng.choice(PAGES)
        query = urlencode({"v": rng.choice(ids), "u": f"https://coop.example.jp{path}", "t": title,
                           "r": rng.choice(REFERRERS)})
        requests.append((f"GET /t/p.gif?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: {BROWSER}\r\n"
                         "Accept: image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8\r\n"
                         "Accept-Language: ja,en-US;q=0.9,en;q=0.8\r\nAccept-Encoding: gzip, deflate, br\r\n"
                         f"Referer: https://coop.example.jp{path}\r\nSec-Fetch-Dest: image\r\n"
                         "Sec-Fetch-Mode: no-cors\r\nSec-Fetch-Site: cross-site\r\nConnection: keep-alive\r\n\r\n")
                        .encode())
    return requests


def _start_gunicorn(database_url: str, workers: int, threads: int, log: Path,
                    app: str = "app:create_app()") -> tuple[subprocess.Popen[bytes], int]:
    """The Procfile's `web` process (access log included) on a free loopback port; returns it and its port.

    `app` replaces the WSGI application (the HTTP floor runs `bench.tracking:floor_app` with the
    same settings)."""
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "TMPDIR") if key in os.environ}
    env.update(DATABASE_URL=database_url, SECRET_KEY=SECRET, PUBLIC_BASE_URL="http://127.0.0.1",
               TRACKING_HONOUR_DNT="true", PYTHONUNBUFFERED="1")
    command = [str(Path(sys.executable).parent / "gunicorn"), "--config", str(ROOT / "gunicorn.conf.py"),
               "--bind", "127.0.0.1:0", "--workers", str(workers), "--threads", str(threads),
               "--access-logfile", "-", app]
    with log.open("wb") as out:
        web = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                               start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        found = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", text)
        if found and text.count("Booting worker") >= workers:
            return web, int(found.group(1))
        if web.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {web.returncode}:\n{text}")
        time.sleep(0.1)
    _stop(web)
    raise RuntimeError(f"gunicorn did not start within 60 s:\n{log.read_text(errors='replace')}")


def _stop(web: subprocess.Popen[bytes]) -> None:
    os.killpg(web.pid, signal.SIGTERM)
    try:
        web.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(web.pid, signal.SIGKILL)
        web.wait()


def _page_views(database_url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    with engine.connect() as conn:
        count = conn.scalar(text("SELECT count(*) FROM activities WHERE kind = 'page_view'"))
    engine.dispose()
    return int(count or 0)


def _cpu_seconds(select: Any) -> float | None:
    """CPU seconds (user + system) used so far by the processes `select(pid, ppid, title)` picks (Linux)."""
    proc = Path("/proc")
    if not (proc / "stat").exists():
        return None
    ticks = 0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(") ")[2].split()
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # the process ended meanwhile
            continue
        if select(int(entry.name), int(fields[1]), title):
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


# PostgreSQL's processes that work for every database: our share of them is the WAL we write.
PG_SHARED = ("postgres: ", ": walwriter", ": checkpointer", ": background writer")


def _cpu_split(web_pid: int, database: str) -> dict[str, float | None]:
    """CPU seconds so far of gunicorn (master and workers), PostgreSQL (our backends and its WAL
    and checkpoint processes; other databases' backends excluded), this process, and the machine."""
    machine = None
    if Path("/proc/stat").exists():
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        machine = (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait
    times = os.times()  # this process and the children it has waited for (wrk)

    def ours(_pid: int, _ppid: int, title: str) -> bool:
        return title.startswith(PG_SHARED[0]) and (f" {database} " in title or title.rstrip().endswith(PG_SHARED[1:]))

    return {"web": _cpu_seconds(lambda pid, ppid, _title: web_pid in (pid, ppid)),
            "postgresql": _cpu_seconds(ours),
            "client": times.user + times.system + times.children_user + times.children_system, "machine": machine}


def floor_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """The HTTP floor: the pixel's GIF and headers for every request, with no app and no database."""
    from scoring.pixel import HEADERS, PIXEL

    start_response("200 OK", HEADERS)
    return [PIXEL]


def ingest_rate(database_url: str, workers: int, threads: int, connections: int, seconds: float,
                budget: int, client: str = "auto") -> dict[str, Any]:
    """Page views per second through the pixel under gunicorn, verified against the database.

    Measured in the same run, for comparison: the HTTP floor (the same gunicorn settings and access
    log serving a constant GIF: no Flask, no app code, no database; no design of the app can beat
    it on this machine) and the no-write ceiling (the real app with a crawler's User-Agent, which
    the pixel answers before any database work). CPU per stored event is split by process.
    """
    from sqlalchemy.engine import make_url

    requests = _pixel_requests(5000, 20000, random.Random(5))
    crawler = [r.replace(BROWSER.encode(), b"Mozilla/5.0 (compatible; Googlebot/2.1)") for r in requests]
    with tempfile.TemporaryDirectory() as tmp:
        floor_web, port = _start_gunicorn(database_url, workers, threads, Path(tmp) / "floor.log",
                                          app="bench.tracking:floor_app")
        try:
            http_load.drive(port, requests, connections, 2.0, budget, client)
            floor = http_load.drive(port, requests, connections, seconds / 4, budget, client)
        finally:
            _stop(floor_web)
        web, port = _start_gunicorn(database_url, workers, threads, Path(tmp) / "gunicorn.log")
        try:
            http_load.drive(port, requests, connections, 3.0, budget, client)  # workers load the app; pools fill
            before = _page_views(database_url)
            database = make_url(database_url).database or ""
            web_before = _cpu_split(web.pid, database)["web"]
            ceiling = http_load.drive(port, crawler, connections, seconds / 4, budget, client)
            web_after = _cpu_split(web.pid, database)["web"]
            if _page_views(database_url) != before:
                raise RuntimeError("crawler hits were stored: the ceiling run is not write-free")
            cpu_before = _cpu_split(web.pid, database)
            run = http_load.drive(port, requests, connections, seconds, budget, client)
            cpu_after = _cpu_split(web.pid, database)
            stored = _page_views(database_url) - before
        finally:
            _stop(web)
    used = {key: None if cpu_before[key] is None else cpu_after[key] - cpu_before[key] for key in cpu_before}
    busy = used.pop("machine")
    cpu = {key: round(seconds_used * 1000 / stored, 3) if seconds_used is not None and stored else None
           for key, seconds_used in used.items()}
    events_per_s = round(stored / run["seconds"])
    http_floor = round(floor["ok"] / floor["seconds"])
    return {"events_per_s": events_per_s, "requests": run["ok"], "stored_events": stored,
            "errors": run["errors"] + ceiling["errors"] + floor["errors"], "seconds": run["seconds"],
            "client": run["client"], "connections": connections, "gunicorn": f"{workers}x{threads}",
            "latency_p50_ms": run["latency_p50_ms"], "latency_p99_ms": run["latency_p99_ms"],
            "http_floor_per_s": http_floor,
            "of_http_floor": round(events_per_s / http_floor, 2) if http_floor else None,
            "no_write_ceiling_per_s": round(ceiling["ok"] / ceiling["seconds"]),
            "cpu_ms_per_event": cpu,
            "no_write_web_cpu_ms": round((web_after - web_before) * 1000 / ceiling["ok"], 3)
            if web_before is not None and web_after is not None and ceiling["ok"] else None,
            "machine_busy_pct": None if busy is None else round(100 * busy / run["seconds"] / (os.cpu_count() or 1))}


# --- rescore_1m_s ----------------------------------------------------------------------------

# Leads (00Q) and Contacts (003, one in three) as sync mirrors them, with the fields the default
# model's fit rules read (Industry, NumberOfEmployees — sometimes text, State/MailingState, Status).
SEED_MIRROR = """
INSERT INTO mirror_records (sf_id, object_name, fields, system_modstamp, is_deleted, first_seen_at,
                            last_seen_at, last_source, email_key, phone_key, name_key, kana_key, company_key)
SELECT p.id, p.object_name,
       jsonb_build_object(
         'Id', p.id, 'LastName', '山田' || n, 'FirstName', '太郎', 'LastNameKana__c', 'ヤマダ',
         'Email', 'person' || n || '@example.jp', 'Phone', '090-' || lpad((n % 10000)::text, 4, '0') || '-0000',
         'Company', '株式会社サンプル' || (n % 5000),
         'Industry', (ARRAY['小売', '食品', '物流', '製造', '情報通信', 'Retail', '金融'])[n % 7 + 1],
         'NumberOfEmployees', CASE WHEN n % 13 = 0 THEN to_jsonb('100名'::text) ELSE to_jsonb((n * 37) % 800) END,
         CASE WHEN p.object_name = 'Contact' THEN 'MailingState' ELSE 'State' END,
         (ARRAY['東京都', '神奈川県', '大阪府', '千葉県', '愛知県', '福岡県', '埼玉県', '北海道'])[n % 8 + 1],
         'Status', CASE WHEN p.object_name = 'Contact' THEN NULL
                        ELSE (ARRAY['Open', 'Working', 'Qualified', 'Closed - Not Converted'])[n % 4 + 1] END,
         'LeadSource', 'Web', 'City', '千代田区', 'PostalCode', '100-0001', 'Rating', 'Warm',
         'OwnerId', '005' || lpad((n % 20 + 1)::text, 15, '0'),
         'SystemModstamp', '2026-11-20T10:00:00.000+0000', 'IsDeleted', false),
       now(), false, now(), now(), 'poll', 'person' || n || '@example.jp',
       '090' || lpad((n % 100000000)::text, 8, '0'), '山田' || n, 'やまだ', 'サンプル' || (n % 5000)
FROM generate_series(1, :people) AS n,
     LATERAL (SELECT CASE WHEN n % 3 = 0 THEN '003' ELSE '00Q' END || lpad(n::text, 15, '0') AS id,
                     CASE WHEN n % 3 = 0 THEN 'Contact' ELSE 'Lead' END AS object_name) AS p
"""
SEED_OWNERS = """
INSERT INTO mirror_records (sf_id, object_name, fields, system_modstamp, is_deleted, first_seen_at,
                            last_seen_at, last_source, email_key)
SELECT '005' || lpad(n::text, 15, '0'), 'User',
       jsonb_build_object('Id', '005' || lpad(n::text, 15, '0'), 'LastName', '営業' || n,
                          'Email', 'sales' || n || '@example.jp', 'IsActive', true),
       now(), false, now(), now(), 'poll', 'sales' || n || '@example.jp'
FROM generate_series(1, 20) AS n
"""
# Four people in ten have activity: 1–10 scored activities each over the last 240 days, mostly page
# views, some pricing views, mail opens and clicks, a few form submissions, unsubscribes, bounces.
SEED_ACTIVITY = """
INSERT INTO activities (id, kind, person_id, visitor_id, occurred_at, details)
SELECT (SELECT coalesce(max(id), 0) FROM activities) + row_number() OVER (), a.kind, a.person_id, NULL,
       a.occurred_at,
       CASE WHEN a.kind = 'page_view' THEN jsonb_build_object('url', a.url, 'title', 'ページ', 'referrer', '')
            WHEN a.kind = 'form_submit' THEN jsonb_build_object('form', 'trial_set')
            ELSE jsonb_build_object('template_key', 'newsletter') END
FROM (SELECT CASE WHEN n % 3 = 0 THEN '003' ELSE '00Q' END || lpad(n::text, 15, '0') AS person_id,
             now() - make_interval(days => (n * 13 + e * 29) % 240, hours => e) AS occurred_at,
             CASE WHEN h < 60 THEN 'page_view' WHEN h < 70 THEN 'page_view' WHEN h < 84 THEN 'mail_open'
                  WHEN h < 93 THEN 'mail_click' WHEN h < 97 THEN 'form_submit' WHEN h < 99 THEN 'unsubscribe'
                  ELSE 'mail_bounce' END AS kind,
             CASE WHEN h < 60 THEN 'https://coop.example.jp/products/' || e ELSE 'https://coop.example.jp/pricing' END
               AS url
      FROM generate_series(1, :people) AS n,
           LATERAL generate_series(1, 1 + (n * 7) % 10) AS e,
           LATERAL (SELECT (n * 31 + e * 17) % 100 AS h) AS r
      WHERE n % 10 < 4
      UNION ALL  -- one person in 500 is hot: two recent form submissions and three mail opens
      SELECT CASE WHEN n % 3 = 0 THEN '003' ELSE '00Q' END || lpad(n::text, 15, '0'),
             now() - make_interval(days => e * 5), CASE WHEN e <= 2 THEN 'form_submit' ELSE 'mail_open' END, NULL
      FROM generate_series(7, :people, 500) AS n, generate_series(1, 5) AS e) AS a
"""
SEED_LEDGER = """
INSERT INTO score_events (person_id, rule, activity_id, occurred_at, recorded_at)
SELECT person_id,
       CASE WHEN kind = 'page_view' AND details->>'url' LIKE '%/pricing%' THEN 'pricing_page' ELSE kind END,
       id, occurred_at, now()
FROM activities WHERE person_id IS NOT NULL ORDER BY id
"""


def _seed(database_url: str, people: int) -> int:
    """Mirror `people` Leads/Contacts and their scored activity; returns the ledger rows."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL synchronous_commit = off"))
        conn.execute(text(SEED_MIRROR), {"people": people})
        conn.execute(text(SEED_OWNERS))
        conn.execute(text(SEED_ACTIVITY), {"people": people})
        for statement in scale_data.TAKEN_IN:  # scoring and automations have handled it all
            conn.execute(text(statement))
        conn.execute(text("SELECT setval(pg_get_serial_sequence('activities', 'id'), "
                          "(SELECT coalesce(max(id), 1) FROM activities))"))
        ledger = conn.execute(text(SEED_LEDGER)).rowcount
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # As autovacuum leaves bulk-loaded tables; person_scores stays as the migration made it.
        conn.execute(text("VACUUM ANALYZE mirror_records, activities, score_events"))
    engine.dispose()
    return int(ledger)


CHANGED_MODEL_POINTS = {"page_view": 2, "pricing_page": 8, "mail_open": 5}  # the admin's edit


def rescore_time(database_url: str, people: int) -> dict[str, Any]:
    """Seed, score everybody once, change the model as an admin would, and time the full rescore."""
    import db
    from app import create_app
    from scoring import handoff, service
    from scoring.definition import default_definition, dump_yaml

    started = time.perf_counter()
    ledger = _seed(database_url, people)
    seed_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as instance:
        app = create_app({"instance_path": instance,
                          "environ": {"SECRET_KEY": SECRET, "PUBLIC_BASE_URL": "http://127.0.0.1"},
                          "settings": {"database_url": database_url}})
        try:
            with app.app_context():
                with db.transaction() as session:  # as `flask scoring load` leaves it
                    handoff.ensure_hot_lead_template(session)
                started = time.perf_counter()
                with db.transaction() as session:
                    first = service.rescore(session, None, reason="初回の計算")
                first_s = time.perf_counter() - started
                document = default_definition().document
                for rule in document["behaviour"]:
                    rule["points"] = CHANGED_MODEL_POINTS.get(rule["name"], rule["points"])
                with db.transaction() as session:
                    service.import_model(session, dump_yaml(document), by="bench")
                with db.get_db().engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.exec_driver_sql("VACUUM ANALYZE person_scores")  # as autovacuum would by then
                started = time.perf_counter()
                with db.transaction() as session:  # what the `scoring.rescore` job does
                    result = service.rescore(session, None, reason="スコアリングモデルの変更")
                elapsed = time.perf_counter() - started
        finally:
            db.get_db(app).dispose()
    return {"people": people, "ledger_rows": ledger, "seed_s": round(seed_s, 1), "rescore_1m_s": round(elapsed, 1),
            "rescore_people": result.people, "rescore_changed": result.changed,
            "rescore_crossings": result.crossings, "rescore_first_s": round(first_s, 1),
            "rescore_first_crossings": first.crossings}


def main(argv: list[str] | None = None) -> None:
    """Run both parts and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5 s of load and 20,000 people (a smoke run)")
    parser.add_argument("--postgresql", default=PG_DEFAULT, help="PostgreSQL URL (its database is recreated)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2: this is a 2-core box)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker (default 4)")
    parser.add_argument("--connections", type=int, default=16, help="client keep-alive connections (default 16)")
    parser.add_argument("--client", choices=("auto", "wrk", "asyncio"), default="auto",
                        help="load generator (default: wrk when installed, else asyncio)")
    args = parser.parse_args(argv)
    import logging

    logging.disable(logging.WARNING)
    seconds, budget, people = (5.0, 50_000, 20_000) if args.quick else (20.0, 400_000, 1_000_000)
    result: dict[str, Any] = {}
    pg = fresh_postgres(args.postgresql, "tracking")
    if pg is None:
        result.update(dict.fromkeys(("events_per_s", "latency_p50_ms", "latency_p99_ms", "rescore_1m_s")))
        print(json.dumps(result))
        return
    try:
        from migrations import upgrade

        upgrade(pg)
        result.update(ingest_rate(pg, args.workers, args.threads, args.connections, seconds, budget, args.client))
        result.update(rescore_time(pg, people))
    finally:
        drop_postgres(pg)
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
