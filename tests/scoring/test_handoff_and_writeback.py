"""Threshold crossings hand a person over once per crossing; scores reach Salesforce in batches."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from db import get_db, utcnow
from mail.models import OutboxMail
from mail.templates import save_template
from scoring import jobs, service
from scoring.models import ScoreThresholdCrossed
from tests.scoring.people import MODEL, add_activity, add_records, lead_id, user_id
from writeback.models import WritebackItem

OWNER = user_id(1)
PERSON = lead_id(1)


@pytest.fixture
def tx(app):
    with app.app_context():  # the hand-off runs with the app's settings, as the scoring worker does
        yield get_db(app).transaction


@pytest.fixture(autouse=True)
def seeded(tx):
    with tx() as s:
        service.import_model(s, MODEL)
        save_template(s, key="hot", name="hot", subject="ホットリード {{ person.LastName }}",
                      html="<p>{{ person.LastName }}</p>")
        add_records(s, "User", {"Id": OWNER, "LastName": "営業", "FirstName": "太郎", "Email": "owner@coop.example.jp"})
        add_records(s, "Lead", {"Id": PERSON, "LastName": "山田", "Company": "ABC", "OwnerId": OWNER})


def act(tx, *kinds: str) -> None:
    with tx() as s:
        for kind in kinds:
            add_activity(s, kind, PERSON)
    with tx() as s:
        while service.score_new_activity(s):
            pass


def handoffs(tx):
    with tx() as s:
        crossings = s.scalars(select(ScoreThresholdCrossed).order_by(ScoreThresholdCrossed.id)).all()
        mails = s.scalars(select(OutboxMail).order_by(OutboxMail.id)).all()
        tasks = s.scalars(select(WritebackItem).where(WritebackItem.object_name == "Task")
                          .order_by(WritebackItem.id)).all()
        return ([(c.threshold, c.crossing_no, c.score) for c in crossings],
                [(m.to_address, m.template_key) for m in mails],
                [t.fields for t in tasks])


def test_crossing_the_threshold_mails_the_owner_and_creates_a_task_once(tx):
    act(tx, "form_submit")            # 50
    assert handoffs(tx) == ([], [], [])
    act(tx, "form_submit", "mail_open")  # 110: crosses 100
    act(tx, "mail_open")              # 120: still above, no new crossing
    crossings, mails, tasks = handoffs(tx)
    assert crossings == [("hot_lead", 1, 110)]
    assert mails == [("owner@coop.example.jp", "hot")]
    assert len(tasks) == 1
    assert tasks[0]["WhoId"] == PERSON and tasks[0]["OwnerId"] == OWNER
    assert tasks[0]["Subject"] == "ホットリード 110"


def test_falling_below_and_rising_again_is_a_new_crossing(tx):
    act(tx, "form_submit", "form_submit")   # 100: crossing 1
    act(tx, "unsubscribe")                  # 60: below
    act(tx, "mail_open")                    # 70: still below
    act(tx, "form_submit")                  # 120: crossing 2
    crossings, mails, tasks = handoffs(tx)
    assert crossings == [("hot_lead", 1, 100), ("hot_lead", 2, 120)]
    assert len(mails) == 2 and len(tasks) == 2


def test_rescoring_at_the_same_score_does_not_cross_again(tx):
    act(tx, "form_submit", "form_submit")
    with tx() as s:
        service.rescore(s, None)
        service.rescore(s, [PERSON])
    assert len(handoffs(tx)[0]) == 1


def test_hand_off_without_a_mail_template_still_creates_the_task(tx):
    with tx() as s:
        service.import_model(s, MODEL.replace("mail_template: hot", "mail_template: missing"))
    act(tx, "form_submit", "form_submit")
    crossings, mails, tasks = handoffs(tx)
    assert len(crossings) == 1 and mails == [] and len(tasks) == 1


def score_items(tx):
    with tx() as s:
        return [(i.object_name, i.record_id, i.fields, i.operation) for i in
                s.scalars(select(WritebackItem).where(WritebackItem.origin == "scoring",
                                                      WritebackItem.object_name != "Task")
                          .order_by(WritebackItem.id))]


def test_score_changes_inside_one_window_are_written_once_with_the_latest_value(tx, app):
    act(tx, "mail_open")
    act(tx, "mail_open")
    act(tx, "page_view")
    with tx() as s:
        assert jobs.flush_scores(s, window_seconds=300, score_field="Score__c") == 0  # window still open
    assert score_items(tx) == []
    with tx() as s:
        assert jobs.flush_scores(s, window_seconds=0, score_field="Score__c") == 1
    assert score_items(tx) == [("Lead", PERSON, {"Score__c": 21}, "update")]
    act(tx, "mail_open")
    with tx() as s:
        jobs.flush_scores(s, window_seconds=0, score_field="Score__c")
        jobs.flush_scores(s, window_seconds=0, score_field="Score__c")
    assert score_items(tx)[1:] == [("Lead", PERSON, {"Score__c": 31}, "update")]


def test_many_people_are_flushed_in_batches_of_at_most_200(tx):
    with tx() as s:
        for n in range(250):
            add_activity(s, "mail_open", lead_id(1000 + n))
    with tx() as s:
        while service.score_new_activity(s):
            pass
    with tx() as s:
        assert jobs.flush_scores(s, window_seconds=0, score_field="Score__c") == 200
    with tx() as s:
        assert jobs.flush_scores(s, window_seconds=0, score_field="Score__c") == 50
    assert len(score_items(tx)) == 250


def test_a_score_back_to_its_written_value_is_not_written_again(tx):
    act(tx, "mail_open")
    with tx() as s:
        jobs.flush_scores(s, window_seconds=0, score_field="Score__c")
    with tx() as s:
        service.rescore(s, [PERSON], now=utcnow() + timedelta(days=100))  # decays to 5
        service.rescore(s, [PERSON])                                    # back to 10
        jobs.flush_scores(s, window_seconds=0, score_field="Score__c")
    assert len(score_items(tx)) == 1


def test_automations_hear_the_score_before_and_after_the_crossing(tx, app):
    from automations import service as automations
    from automations.models import AutomationRun

    with app.app_context(), tx() as s:
        automations.load_documents(s, automations.parse_yaml("""
automations:
  - key: hot
    name: ホットリード
    trigger: {type: score_threshold, threshold: 100}
    actions:
      - {type: create_task, subject: 電話してください}
"""), enable=True)
    act(tx, "form_submit")               # 50
    act(tx, "form_submit", "mail_open")  # 110: crosses 100
    with tx() as s:
        reasons = [r.reason for r in s.scalars(select(AutomationRun).where(AutomationRun.outcome == "fired"))]
    assert reasons == ["スコア 50 → 110（しきい値 100）"]


def test_the_shipped_model_mails_the_owner_with_the_shipped_template_without_any_set_up(make_app):
    from scoring.models import ScoringModel

    app = make_app()
    tx = get_db(app).transaction
    with tx() as s:
        s.query(ScoringModel).delete()  # nothing imported: the shipped default model is in force
        add_records(s, "User", {"Id": OWNER, "LastName": "営業", "Email": "owner@coop.example.jp"})
        add_records(s, "Lead", {"Id": PERSON, "LastName": "山田", "Company": "ABC", "OwnerId": OWNER})
    act(tx, "form_submit", "form_submit", "form_submit")
    _, mails, tasks = handoffs(tx)
    assert mails == [("owner@coop.example.jp", "scoring-hot-lead")]
    assert len(tasks) == 1


def test_automations_entered_by_a_crossing_wait_for_local_time_in_the_configured_time_zone(make_app):
    """A step "at 09:00" after a hot-lead crossing is 09:00 in TSUNAGI_TIMEZONE, not in Tokyo."""
    from zoneinfo import ZoneInfo

    from automations import service as automations
    from automations.models import PlannedStep

    app = make_app(timezone="America/New_York")  # the same database the seeded fixture filled
    tx = get_db(app).transaction
    with app.app_context():
        with tx() as s:
            automations.load_documents(s, automations.parse_yaml("""
automations:
  - key: hot-call
    name: ホットリードに電話
    trigger: {type: score_threshold, threshold: 100}
    steps:
      - {name: 朝に電話, wait: {days: 1, at: "09:00"}, actions: [{type: create_task, subject: 電話してください}]}
"""), enable=True)
        act(tx, "form_submit", "form_submit", "mail_open")  # 110: crosses 100
        with tx() as s:
            due = [step.due_at for step in s.scalars(select(PlannedStep))]
    assert [(d.astimezone(ZoneInfo("America/New_York")).hour, d.minute) for d in due] == [(9, 0)]
