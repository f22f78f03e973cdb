"""Benchmark of forms: submission accept latency and as-you-type lookup over a large mirror.

    .venv/bin/python -m bench.forms [--quick] [--records N] [--postgresql URL]

Prints one JSON line:
- accept_p50_ms / accept_p99_ms: one operator POST of the お試しセット申込 form (final step) through the
  whole Flask stack: parse, check and normalize every field, match against the mirror, insert the
  submission, enqueue the Lead + Task write-back items and the confirmation mail, record the
  activity, commit, redirect. Salesforce is never called on this path (the worker writes later).
- lookup_p50_ms / lookup_p99_ms: one GET /forms/api/people?q=… (JSON) with a mirror of N Leads and
  Contacts (default 100,000), mixing phone, kana, name and mail prefixes as an operator types them.
- infix_p50_ms / infix_p99_ms: the same with a fragment from the middle of a phone number (four or
  six digits) or of a mail address, which the pg_trgm indexes serve on PostgreSQL.
Keys without suffix are PostgreSQL; the same keys with `_sqlite` are SQLite. Targets: accept
p99 < 50 ms, lookup p99 < 100 ms. A database that is not reachable reports null.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from bench.common import bench_app, fresh_postgres, percentile

PG_DEFAULT = "postgresql://postgres@127.0.0.1/tsunagi_bench_forms"
PASSWORD = "bench password 123"
FAMILY = [("山田", "ヤマダ"), ("佐藤", "サトウ"), ("鈴木", "スズキ"), ("高橋", "タカハシ"), ("田中", "タナカ"),
          ("伊藤", "イトウ"), ("渡辺", "ワタナベ"), ("中村", "ナカムラ"), ("小林", "コバヤシ"), ("加藤", "カトウ"),
          ("吉田", "ヨシダ"), ("山本", "ヤマモト"), ("松本", "マツモト"), ("井上", "イノウエ"), ("木村", "キムラ"),
          ("林", "ハヤシ"), ("清水", "シミズ"), ("山崎", "ヤマザキ"), ("森", "モリ"), ("池田", "イケダ")]
GIVEN = [("太郎", "タロウ"), ("花子", "ハナコ"), ("一郎", "イチロウ"), ("美咲", "ミサキ"), ("健", "ケン"),
         ("陽子", "ヨウコ"), ("誠", "マコト"), ("恵", "メグミ"), ("翔", "ショウ"), ("結衣", "ユイ")]


def _phone_digits(n: int) -> str:
    """A valid mobile number per person (090-1000-0000 on): 090-0000-… is not a number, and got no key."""
    return f"090{1000 + n // 10000 % 9000:04d}{n % 10000:04d}"


def _person(n: int, rng: random.Random) -> tuple[str, dict[str, Any]]:
    family, family_kana = rng.choice(FAMILY)
    given, given_kana = rng.choice(GIVEN)
    object_name = "Lead" if n % 3 else "Contact"
    phone = _phone_digits(n)
    fields = {"Id": f"{'00Q' if object_name == 'Lead' else '003'}{n:012d}AAA", "LastName": family,
              "FirstName": given, "LastNameKana__c": family_kana, "FirstNameKana__c": given_kana,
              "Email": f"member{n}@example.jp", "Phone": f"{phone[:3]}-{phone[3:7]}-{phone[7:]}",
              "City": "千代田区", "State": "東京都"}
    return object_name, fields


def _seed_mirror(database_url: str, records: int) -> None:
    """Bulk-insert `records` Leads/Contacts with their lookup keys (as sync would leave them)."""
    from sqlalchemy import create_engine, insert, text

    import db
    from config.person_model import default_model
    from sync.keys import record_keys
    from sync.models import MirrorRecord

    rng = random.Random(7)
    now = db.utcnow()
    engine = db.create_db_engine(database_url) if database_url.startswith("sqlite") else create_engine(database_url)
    with engine.begin() as conn:
        batch: list[dict[str, Any]] = []
        for n in range(records):
            object_name, fields = _person(n, rng)
            batch.append({"sf_id": fields["Id"], "object_name": object_name, "fields": fields,
                          "system_modstamp": now, "is_deleted": False, "first_seen_at": now, "last_seen_at": now,
                          "last_source": "poll", **record_keys(object_name, fields, default_model())})
            if len(batch) == 5000:
                conn.execute(insert(MirrorRecord), batch)
                batch = []
        if batch:
            conn.execute(insert(MirrorRecord), batch)
        conn.execute(text("ANALYZE"))
    engine.dispose()


def _app(database_url: str) -> AbstractContextManager[Any]:
    """The app over `database_url`, migrated first."""
    from migrations import upgrade

    upgrade(database_url)
    return bench_app(database_url)


def _prepare(app: Any) -> Any:
    """Load the example forms and the confirmation template, and sign an operator in."""
    import db
    from forms.schema import load_yaml
    from forms.service import save_definition
    from mail.templates import save_template
    from people.service import create_user

    examples = Path(__file__).resolve().parent.parent / "forms" / "examples"
    with db.get_db(app).transaction() as session:
        for path in sorted(examples.glob("*.yaml")):
            for spec in load_yaml(path.read_text(encoding="utf-8")):
                save_definition(session, spec)
        save_template(session, key="trial_set_thanks", name="お試しセット受付",
                      subject="お申し込みありがとうございます",
                      html="<p>{{ person.LastName }} 様、お申し込みを受け付けました。</p>")
        create_user(session, "bench-operator@example.jp", "operator", PASSWORD)
    client = app.test_client()
    response = client.post("/login", data={"email": "bench-operator@example.jp", "password": PASSWORD})
    assert response.status_code == 302, response.status_code
    return client


def _accept_samples(client: Any, count: int, rng: random.Random) -> list[float]:
    samples = []
    for i in range(count):
        family, family_kana = rng.choice(FAMILY)
        given, given_kana = rng.choice(GIVEN)
        data = {"_token": f"{rng.getrandbits(128):032x}", "_stage": "submit", "LastName": family, "FirstName": given,
                "LastNameKana__c": family_kana, "FirstNameKana__c": given_kana,
                "Phone": f"０８０−{rng.randrange(1000, 9999)}−{rng.randrange(1000, 9999)}",
                "Email": f"applicant{i}@example.jp", "PostalCode": "１０００００１", "State": "東京都",
                "City": "千代田区", "Street": "千代田１−１"}
        start = time.perf_counter()
        response = client.post("/forms/trial_set", data=data)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
    return samples


def _lookup_samples(client: Any, count: int, records: int, rng: random.Random) -> list[float]:
    samples = []
    for i in range(count):
        n = rng.randrange(records)
        kind = i % 4
        if kind == 0:
            typed = _phone_digits(n)[: rng.randrange(5, 12)]
        elif kind == 1:
            typed = rng.choice(FAMILY)[1].translate({c: c - 0x60 for c in range(0x30A1, 0x30F7)})  # in hiragana
        elif kind == 2:
            typed = rng.choice(FAMILY)[0] + rng.choice(GIVEN)[0][:1]
        else:
            typed = f"member{n}"[: rng.randrange(8, 12)]
        start = time.perf_counter()
        response = client.get("/forms/api/people", query_string={"q": typed})
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    return samples


def _infix_samples(client: Any, count: int, records: int, rng: random.Random) -> list[float]:
    """Look-ups of a fragment from the middle of a phone number or of a mail address (issue 14)."""
    samples = []
    for i in range(count):
        n = rng.randrange(records)
        digits = _phone_digits(n)[3:]  # after 090: a fragment typed from the middle never starts with 0
        width = 6 if i % 3 == 0 else 4  # six digits, or four (many matches: the LIMIT bounds them)
        starts = [k for k in range(1, len(digits) - width + 1) if digits[k] != "0"]
        if i % 3 < 2:
            k = rng.choice(starts) if starts else len(digits) - width
            typed = digits[k:k + width]
        else:
            typed = f"ber{n}"  # the middle of member{n}@example.jp
        start = time.perf_counter()
        response = client.get("/forms/api/people", query_string={"q": typed})
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    return samples


def run(database_url: str, records: int, accepts: int, lookups: int) -> dict[str, float]:
    """Seed, warm up, measure; returns the four figures for one database."""
    rng = random.Random(11)
    with _app(database_url) as app:
        _seed_mirror(database_url, records)
        client = _prepare(app)
        _lookup_samples(client, 20, records, rng)  # warm caches and the connection pool
        lookup = _lookup_samples(client, lookups, records, rng)
        infix = _infix_samples(client, lookups, records, rng)
        accept = _accept_samples(client, accepts, rng)
    return {"accept_p50_ms": round(statistics.median(accept), 2), "accept_p99_ms": percentile(accept, 0.99),
            "lookup_p50_ms": round(statistics.median(lookup), 2), "lookup_p99_ms": percentile(lookup, 0.99),
            "infix_p50_ms": round(statistics.median(infix), 2), "infix_p99_ms": percentile(infix, 0.99)}


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20,000 records and fewer samples")
    parser.add_argument("--records", type=int, default=None, help="mirror size (default 100,000)")
    parser.add_argument("--postgresql", default=PG_DEFAULT, help="PostgreSQL URL (its database is recreated)")
    args = parser.parse_args(argv)
    import logging

    logging.disable(logging.WARNING)
    records = args.records or (20_000 if args.quick else 100_000)
    accepts, lookups = (100, 200) if args.quick else (500, 1000)
    result: dict[str, Any] = {"records": records, "accept_samples": accepts, "lookup_samples": lookups}
    pg = fresh_postgres(args.postgresql, "forms")
    figures = run(pg, records, accepts, lookups) if pg else dict.fromkeys(
        ("accept_p50_ms", "accept_p99_ms", "lookup_p50_ms", "lookup_p99_ms", "infix_p50_ms", "infix_p99_ms"))
    result.update(figures)
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = run(f"sqlite:///{tmp}/bench.db", records, accepts, lookups)
    result.update({f"{k}_sqlite": v for k, v in sqlite.items()})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
