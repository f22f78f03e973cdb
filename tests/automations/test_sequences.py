"""Sequences on a controlled clock: waits, times of day, send windows, weekends and holidays,
exit conditions and re-entry rules."""

from __future__ import annotations

from datetime import timedelta

import db as dbmod
from tests.automations.helpers import history, load, outbox, run, template, tokyo, upsert

MATERIALS = """
automations:
  - key: materials
    name: 資料請求フォロー
    trigger: {type: form_submitted, form: 資料請求}
    window: {start: "09:00", end: "20:00", skip_weekends: true, skip_holidays: true}
    exit: {unsubscribed: true, form_submitted: 再訪問予約}
    steps:
      - {name: お礼, actions: [{type: send_mail, template: m1}]}
      - {name: 届きましたか, wait: {days: 2, at: "10:00"}, actions: [{type: send_mail, template: m2}]}
      - {name: ご案内, wait: {days: 3, at: "10:00"}, actions: [{type: send_mail, template: m3}]}
"""


def _setup(app):
    for key in ("m1", "m2", "m3"):
        template(app, key)
    load(app, MATERIALS)
    return upsert(app, "Lead", LastName="佐藤", Email="sato@example.jp", HasOptedOutOfEmail=False)


def _submit(app, person_id, form_key, when):
    from activity.record import record_activity

    with dbmod.get_db(app).transaction() as session:
        record_activity(session, "form_submit", person_id=person_id, details={"form_key": form_key},
                        occurred_at=when)


def _sent(app):
    return [m.template_key for m in outbox(app)]


def test_steps_wait_their_days_and_time_of_day_and_skip_the_weekend(app):
    lead = _setup(app)
    tuesday_noon = tokyo(2026, 11, 24, 12, 0)
    _submit(app, lead, "資料請求", tuesday_noon)
    run(app, tuesday_noon)
    assert _sent(app) == ["m1"]
    run(app, tokyo(2026, 11, 26, 9, 59))
    assert _sent(app) == ["m1"]
    run(app, tokyo(2026, 11, 26, 10, 0))
    assert _sent(app) == ["m1", "m2"]
    # Thursday + 3 days = Sunday 10:00: outside the window (weekend) → Monday 09:00.
    run(app, tokyo(2026, 11, 29, 10, 0))
    run(app, tokyo(2026, 11, 30, 8, 59))
    assert _sent(app) == ["m1", "m2"]
    run(app, tokyo(2026, 11, 30, 9, 0))
    assert _sent(app) == ["m1", "m2", "m3"]
    run(app, tokyo(2026, 12, 30, 9, 0))
    assert _sent(app) == ["m1", "m2", "m3"]


def test_a_request_on_friday_night_waits_past_the_weekend_and_the_public_holiday(app):
    lead = _setup(app)
    friday_night = tokyo(2026, 11, 20, 22, 0)
    _submit(app, lead, "資料請求", friday_night)
    run(app, friday_night)
    # Monday 23 November 2026 is 勤労感謝の日, a public holiday.
    run(app, tokyo(2026, 11, 23, 12, 0))
    run(app, tokyo(2026, 11, 24, 8, 59))
    assert _sent(app) == []
    run(app, tokyo(2026, 11, 24, 9, 0))
    assert _sent(app) == ["m1"]


def test_unsubscribing_ends_the_sequence_and_says_why(app):
    lead = _setup(app)
    start = tokyo(2026, 11, 24, 12, 0)
    _submit(app, lead, "資料請求", start)
    run(app, start)
    upsert(app, "Lead", Id=lead, HasOptedOutOfEmail=True)
    run(app, start + timedelta(days=30))
    assert _sent(app) == ["m1"]
    exited = history(app, "exited")
    assert len(exited) == 1 and "HasOptedOutOfEmail" in exited[0].reason


def test_reaching_the_goal_ends_the_sequence(app):
    lead = _setup(app)
    start = tokyo(2026, 11, 24, 12, 0)
    _submit(app, lead, "資料請求", start)
    run(app, start)
    _submit(app, lead, "再訪問予約", start + timedelta(hours=3))
    run(app, start + timedelta(days=30))
    assert _sent(app) == ["m1"]
    assert "再訪問予約" in history(app, "exited")[0].reason


ABSENT_SEQUENCE = """
automations:
  - key: absent
    name: 不在フォロー
    trigger: {type: field_changed, object: Task, field: Visit_Result__c, to: 不在}
    reentry: REENTRY
    exit:
      conditions: [{field: Visit_Result__c, op: ne, value: 不在}]
    steps:
      - {name: 再訪問のご案内, actions: [{type: send_mail, template: a1}]}
      - {name: もう一度, wait: {days: 3}, actions: [{type: send_mail, template: a2}]}
"""


def _absent(app, reentry="never"):
    template(app, "a1")
    template(app, "a2")
    load(app, ABSENT_SEQUENCE.replace("REENTRY", reentry))
    contact = upsert(app, "Contact", LastName="山田", Email="yamada@example.jp")
    return upsert(app, "Task", WhoId=contact, Visit_Result__c=None)


T0 = tokyo(2026, 11, 24, 12, 0)


def _entered(app, reentry="never"):
    """The sequence with `reentry`, entered at T0 (the visit marked 不在); returns the Task's Id."""
    task = _absent(app, reentry)
    upsert(app, "Task", Id=task, Visit_Result__c="不在")
    run(app, T0)
    return task


def test_the_field_changing_back_ends_the_sequence(app):
    task = _entered(app)
    upsert(app, "Task", Id=task, Visit_Result__c="在宅")
    run(app, T0 + timedelta(days=5))
    assert _sent(app) == ["a1"]
    assert "Visit_Result__c ne" in history(app, "exited")[0].reason


def _flip(app, task, when):
    upsert(app, "Task", Id=task, Visit_Result__c="在宅")
    run(app, when)
    upsert(app, "Task", Id=task, Visit_Result__c="不在")
    run(app, when)


def test_reentry_never_enters_once(app):
    task = _entered(app, "never")
    _flip(app, task, T0 + timedelta(days=40))
    assert _sent(app).count("a1") == 1
    assert any("再登録ルール（never）" in h.reason for h in history(app, "not_entered"))


def test_reentry_after_days_waits_that_long(app):
    task = _entered(app, "{after_days: 30}")
    _flip(app, task, T0 + timedelta(days=10))
    assert _sent(app).count("a1") == 1
    _flip(app, task, T0 + timedelta(days=31))
    assert _sent(app).count("a1") == 2


def test_reentry_always_enters_every_time(app):
    task = _entered(app, "always")
    _flip(app, task, T0 + timedelta(hours=1))
    assert _sent(app).count("a1") == 2
