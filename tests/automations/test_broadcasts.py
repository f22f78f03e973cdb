"""Broadcasts at scale: committed chunks that resume after a crash, one mail per address, a
frequency cap across automations and broadcasts, and the bulk lane behind a person's follow-up."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

import db as dbmod
from automations import broadcasts
from automations.models import BroadcastRun, Enrollment, PlannedStep
from tests.automations.helpers import load, outbox, run, template, tokyo, upsert

AT = "2026-12-01T07:00:00+09:00"


def _broadcast(app, key="news-dec", segment_conditions="[]", extra="", at=AT):
    load(app, f"""
segments:
  - key: everyone-{key}
    name: 全員
    conditions: {segment_conditions}
automations:
  - key: {key}
    name: 一斉配信 {key}
    trigger: {{type: broadcast, segment: everyone-{key}, at: "{at}"}}
    {extra}
    actions:
      - {{type: send_mail, template: news}}
""")


def _count(app, model) -> int:
    with dbmod.get_db(app).transaction() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_a_broadcast_enters_in_committed_chunks_and_resumes_after_a_crash_at_the_last_chunk(make_app, monkeypatch):
    app = make_app(automations_broadcast_chunk=10)
    template(app, "news")
    contacts = [upsert(app, "Contact", LastName=f"会員{i}", Email=f"c{i}@example.jp") for i in range(25)]
    leads = [upsert(app, "Lead", LastName=f"見込{i}", Company="-", Email=f"l{i}@example.jp") for i in range(8)]
    _broadcast(app)
    real_enter, calls = broadcasts._enter, []

    def dies_in_the_third_chunk(*args, **kwargs):
        calls.append(1)
        entered = real_enter(*args, **kwargs)
        if len(calls) == 3:
            raise SystemExit("worker killed mid-chunk")  # after the chunk's inserts, before its commit
        return entered

    monkeypatch.setattr(broadcasts, "_enter", dies_in_the_third_chunk)
    with pytest.raises(SystemExit):
        run(app, tokyo(2026, 12, 1, 9, 0))
    with dbmod.get_db(app).transaction() as session:
        run_row = session.scalars(select(BroadcastRun)).one()
        assert (run_row.status, run_row.phase, run_row.cursor, run_row.chunks) == ("planning", "Contact",
                                                                                   sorted(contacts)[19], 2)
        entered = set(session.scalars(select(Enrollment.subject_id).where(Enrollment.subject_id != "broadcast")))
    assert entered == set(sorted(contacts)[:20])  # the two committed chunks, nothing of the third

    monkeypatch.setattr(broadcasts, "_enter", real_enter)
    run(app, tokyo(2026, 12, 1, 9, 1))  # a later tick (another worker) carries on from the cursor
    run(app, tokyo(2026, 12, 1, 9, 2))
    mails = outbox(app)
    assert sorted(m.person_id for m in mails) == sorted(contacts + leads)
    assert len({m.to_address for m in mails}) == 33
    with dbmod.get_db(app).transaction() as session:
        run_row = session.scalars(select(BroadcastRun)).one()
        assert (run_row.status, run_row.entered) == ("planned", 33)
        assert {s.lane for s in session.scalars(select(PlannedStep))} == {1}


def test_a_broadcast_mails_each_address_once_choosing_the_contact_and_skips_an_opted_out_address(app):
    template(app, "news")
    contact = upsert(app, "Contact", LastName="山田", Email="Taro.Yamada@Example.jp")
    upsert(app, "Lead", LastName="山田", Company="-", Email="taro.yamada@example.jp")   # same person, as a Lead
    upsert(app, "Lead", LastName="山田", Company="-", Email="TARO.YAMADA@EXAMPLE.JP")   # and again, upper case
    older = upsert(app, "Contact", LastName="佐藤", Email="sato@example.jp")
    upsert(app, "Contact", LastName="佐藤（重複）", Email="Sato@example.jp")
    upsert(app, "Contact", LastName="鈴木", Email="suzuki@example.jp")
    upsert(app, "Lead", LastName="鈴木", Company="-", Email="suzuki@example.jp", HasOptedOutOfEmail=True)
    lead_only = upsert(app, "Lead", LastName="田中", Company="-", Email="tanaka@example.jp")
    _broadcast(app)
    run(app, tokyo(2026, 12, 1, 9, 0))
    run(app, tokyo(2026, 12, 1, 9, 1))
    mails = outbox(app)
    assert sorted((m.to_address.lower(), m.person_id) for m in mails) == sorted([
        ("taro.yamada@example.jp", contact), ("sato@example.jp", older), ("tanaka@example.jp", lead_only)])
    assert {m.lane for m in mails} == {1}
    assert {m.salesforce_log for m in mails} == {"none"}  # a broadcast without a campaign logs nothing by default
    with dbmod.get_db(app).transaction() as session:
        run_row = session.scalars(select(BroadcastRun)).one()
        assert (run_row.entered, run_row.folded, run_row.opted_out) == (3, 3, 2)


def test_the_frequency_cap_holds_back_marketing_mail_across_broadcasts_but_not_transactional_mail(make_app):
    app = make_app(mail_frequency_cap_per_day=2)
    template(app, "news")
    template(app, "receipt")
    person = upsert(app, "Contact", LastName="山田", Email="taro@example.jp", Status__c="新規")
    for key in ("first", "second", "third"):
        _broadcast(app, key=key)
    load(app, """
automations:
  - key: receipt
    name: 受付確認
    trigger: {type: field_changed, object: Contact, field: Status__c, to: 受付}
    actions:
      - {type: send_mail, template: receipt, marketing: false}
""")
    run(app, tokyo(2026, 12, 1, 9, 0))
    upsert(app, "Contact", Id=person, LastName="山田", Email="taro@example.jp", Status__c="受付")
    run(app, tokyo(2026, 12, 1, 9, 5))
    mails = outbox(app)
    assert sorted((m.template_key, m.marketing) for m in mails) == [("news", True), ("news", True),
                                                                    ("receipt", False)]
    assert [(m.lane, m.salesforce_log) for m in mails if m.template_key == "receipt"] == [(0, "task")]
    with dbmod.get_db(app).transaction() as session:
        reasons = [s.reason for s in session.scalars(select(PlannedStep).where(PlannedStep.status == "skipped"))]
    assert len(reasons) == 1 and "配信頻度の上限" in reasons[0]


def test_a_follow_up_step_is_run_before_a_backlog_of_broadcast_steps(make_app):
    from automations.engine import Runtime, claim_steps

    app = make_app(automations_broadcast_chunk=50)
    template(app, "news")
    template(app, "absent")
    for i in range(120):
        upsert(app, "Contact", LastName=f"会員{i}", Email=f"c{i}@example.jp")
    visited = upsert(app, "Contact", LastName="不在", Email="absent@example.jp")
    _broadcast(app)
    load(app, """
automations:
  - key: absent
    name: 不在フォロー
    trigger: {type: field_changed, object: Contact, field: Visit_Result__c, to: 不在}
    actions:
      - {type: send_mail, template: absent}
""")
    from automations.jobs import process_events, tick

    now = tokyo(2026, 12, 1, 9, 0).astimezone(UTC)
    with app.app_context():
        tick(now=now)
        with dbmod.get_db(app).transaction() as session:
            [run_id] = session.scalars(select(BroadcastRun.id))
        broadcasts.plan(dbmod.get_db(app), run_id, 50)
        upsert(app, "Contact", Id=visited, LastName="不在", Email="absent@example.jp", Visit_Result__c="不在")
        process_events("w", now)
    with dbmod.get_db(app).transaction() as session:
        first = claim_steps(session, Runtime(now=datetime(2026, 12, 1, 1, tzinfo=UTC)), "w", 10)
        assert first[0].plan_key.startswith("absent/") and all(s.lane == 1 for s in first[1:])


def test_a_worker_killed_while_planning_leaves_committed_chunks_and_another_worker_finishes_once(
        make_app, database_url, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from sync.mirror import apply_records
    from work.models import Job
    from work.worker import run_jobs

    app = make_app(automations_broadcast_chunk=5, worker_lease_seconds=2)
    template(app, "news")
    stamp = datetime(2026, 1, 1, tzinfo=UTC).isoformat()
    people = [f"003{n:012d}AAA" for n in range(2000)]
    with dbmod.get_db(app).transaction() as session:
        apply_records(session, "Contact", [{"Id": p, "SystemModstamp": stamp, "LastName": f"会員{n}",
                                            "Email": f"m{n}@example.jp"} for n, p in enumerate(people)], "initial")
    _broadcast(app, at=(dbmod.utcnow().replace(microsecond=0)).isoformat())
    from work.queue import enqueue

    with dbmod.get_db(app).transaction() as session:
        enqueue(session, "automations.tick", {})
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": "test-secret-key",
           "AUTOMATIONS_BROADCAST_CHUNK": "5", "AUTOMATIONS_BROADCAST_SLICE_SECONDS": "60",
           "WORKER_LEASE_SECONDS": "2", "WORKER_IDLE_SLEEP_SECONDS": "0.05",
           "TEST_BROADCAST_CHUNK_PAUSE": "0.05"}  # 400 chunks take ≥ 20 s: the kill lands mid-broadcast
    root = Path(__file__).resolve().parents[2]
    worker = subprocess.Popen([sys.executable, "-m", "tests.automations.broadcast_worker", str(tmp_path / "w")],
                              cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert worker.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 60
        while _count(app, BroadcastRun) == 0 or _chunks(app) < 3:
            assert time.monotonic() < deadline and worker.poll() is None
            time.sleep(0.02)
        worker.send_signal(signal.SIGKILL)  # mid-broadcast, no chance to clean up
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    with dbmod.get_db(app).transaction() as session:
        run_row = session.scalars(select(BroadcastRun)).one()
        assert run_row.status == "planning" and 0 < run_row.entered < 2000
        entered = run_row.entered
        assert session.scalar(select(func.count()).select_from(PlannedStep)) == entered  # whole chunks only
    time.sleep(2.5)  # the dead worker's lease on the job expires
    while run_jobs(app, "rescuer") > 0:
        pass
    with dbmod.get_db(app).transaction() as session:
        run_row = session.scalars(select(BroadcastRun)).one()
        assert (run_row.status, run_row.entered) == ("planned", 2000)
        subjects = list(session.scalars(select(Enrollment.subject_id).where(Enrollment.subject_id != "broadcast")))
        assert sorted(subjects) == people
        assert session.scalar(select(func.count()).select_from(PlannedStep)) == 2000
        assert session.scalar(select(Job.status).where(Job.kind == "automations.broadcast")) == "done"


def _chunks(app) -> int:
    with dbmod.get_db(app).transaction() as session:
        return session.scalar(select(func.max(BroadcastRun.chunks))) or 0


def test_a_broadcast_mail_names_the_rep_who_entered_the_person_on_a_form(app):
    """Bulk steps look up "the rep" for their whole batch at once; each mail still names its own."""
    from forms.models import Submission
    from people.service import create_user
    from writeback.models import WritebackItem

    template(app, "news", html="<p>{{ person.LastName }} 様 担当: {{ rep.name | default('なし') }}</p>")
    entered = upsert(app, "Lead", LastName="新規", Company="-", Email="new@example.jp")
    other = upsert(app, "Contact", LastName="既存", Email="old@example.jp")
    with app.app_context(), dbmod.get_db(app).transaction() as session:
        rep = create_user(session, "rep@example.jp", "sales", "rep-password-1234", name="営業 花子")
        submission = Submission(idempotency_key="visit-1", form_key="new-lead", data={}, created_by=rep.id)
        session.add(submission)
        session.flush()
        session.add(WritebackItem(idempotency_key="forms:new-lead:1", object_name="Lead", operation="create",
                                  fields={}, result_id=entered, origin="forms",
                                  origin_ref=f"forms:{submission.id}", status="written", due_at=dbmod.utcnow()))
    _broadcast(app)
    run(app, tokyo(2026, 12, 1, 9, 0))
    run(app, tokyo(2026, 12, 1, 9, 1))
    reps = {m.person_id: m.context.get("rep") for m in outbox(app)}
    assert reps == {entered: {"name": "営業 花子"}, other: {}}


def test_a_segment_checked_partly_in_python_enters_only_its_people_chunk_by_chunk(make_app):
    # "less than infinity" has no SQL form (segment_sql leaves it to Python): every chunk's rows are
    # checked in Python and only the chosen ones enter, the cursor still moving over every row read.
    app = make_app(automations_broadcast_chunk=4)
    template(app, "news")
    scored = [upsert(app, "Contact", LastName=f"会員{i}", Email=f"s{i}@example.jp", Score__c=i) for i in range(7)]
    for i in range(6):
        upsert(app, "Contact", LastName=f"未採点{i}", Email=f"u{i}@example.jp")
    _broadcast(app, segment_conditions="[{field: Score__c, op: lt, value: 'inf'}]")
    run(app, tokyo(2026, 12, 1, 9, 0))
    run(app, tokyo(2026, 12, 1, 9, 1))
    assert sorted(m.person_id for m in outbox(app)) == sorted(scored)
    with dbmod.get_db(app).transaction() as session:
        run_row = session.scalars(select(BroadcastRun)).one()
        assert (run_row.status, run_row.entered, run_row.chunks) == ("planned", 7, 4)  # 13 rows, 4 a chunk
