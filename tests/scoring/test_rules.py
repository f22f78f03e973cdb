"""Each scoring rule: behaviour points, fit rules, negatives, decay, stages, history reasons."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from db import get_db, utcnow
from scoring import jobs, service
from scoring.models import PersonScore, ScoreHistory
from sync.mirror import apply_records
from tests.scoring.people import MODEL, add_activity, add_records, lead_id


@pytest.fixture
def tx(app):
    """Run a block in its own committed transaction: `with tx() as s: ...`."""
    return get_db(app).transaction


@pytest.fixture(autouse=True)
def model(tx):
    with tx() as s:
        service.import_model(s, MODEL)


def score_all(tx) -> None:
    with tx() as s:
        while service.score_new_activity(s):
            pass


def score_of(tx, person_id: str) -> PersonScore:
    with tx() as s:
        row = s.get(PersonScore, person_id)
        assert row is not None
        s.expunge(row)
        return row


@pytest.mark.parametrize(("kind", "details", "points"), [
    ("form_submit", {"form_key": "contact"}, 50),
    ("page_view", {"url": "https://coop.example.jp/pricing/plan-a"}, 5),
    ("page_view", {"url": "https://coop.example.jp/about"}, 1),
    ("mail_open", {"mail_id": 1}, 10),
    ("mail_click", {"url": "https://coop.example.jp/x"}, 3),
    ("campaign_status", {"status": "出席"}, 30),
    ("campaign_status", {"status": "欠席"}, 0),
    ("unsubscribe", {}, -40),
    ("mail_sent", {}, 0),
])
def test_each_behaviour_rule_earns_its_points(tx, kind, details, points):
    person = lead_id(1)
    with tx() as s:
        add_activity(s, kind, person, **details)
    score_all(tx)
    with tx() as s:
        row = s.get(PersonScore, person)
        assert (row.score if row else 0) == points


def test_score_history_names_the_reason_of_every_change(tx):
    person = lead_id(2)
    with tx() as s:
        add_activity(s, "form_submit", person)
        add_activity(s, "mail_open", person)
    score_all(tx)
    with tx() as s:
        add_activity(s, "page_view", person, url="https://coop.example.jp/pricing")
    score_all(tx)
    with tx() as s:
        history = [(h.score_before, h.score_after, h.reason) for h in service.score_history(s, person)]
    assert history == [(60, 65, "料金ページ +5"), (0, 60, "フォーム送信 +50、開封 +10")]


def test_one_activity_is_scored_once_however_often_the_worker_runs(tx):
    person = lead_id(3)
    with tx() as s:
        add_activity(s, "form_submit", person)
    score_all(tx)
    with tx() as s:
        service.rescore(s, [person])
        service.rescore(s, None)
    score_all(tx)
    assert score_of(tx, person).score == 50


def test_fit_rules_score_industry_size_and_prefecture(tx):
    with tx() as s:
        add_records(s, "Lead",
                    {"Id": lead_id(10), "LastName": "山田", "Industry": "小売", "NumberOfEmployees": 250,
                     "State": "東京都"},
                    {"Id": lead_id(11), "LastName": "佐藤", "Industry": "製造", "NumberOfEmployees": 99,
                     "State": "大阪府"},
                    {"Id": lead_id(12), "LastName": "鈴木", "Industry": "食品", "NumberOfEmployees": "100名",
                     "State": "", "Status": "Closed - Not Converted"})
        service.rescore(s, None)
    assert score_of(tx, lead_id(10)).fit == 15 + 10 + 5
    assert score_of(tx, lead_id(11)).fit == 0
    # A text employee count is ignored rather than failing the rescore; lost leads lose 100.
    assert score_of(tx, lead_id(12)).fit == 15 - 100


def test_contact_prefecture_comes_from_mailing_state(tx):
    with tx() as s:
        add_records(s, "Contact", {"Id": "003000000000000001", "LastName": "田中", "MailingState": "神奈川県"})
        service.rescore(s, None)
    assert score_of(tx, "003000000000000001").score == 5


def test_a_changed_fit_field_in_salesforce_rescores_that_person(tx):
    person = lead_id(13)
    with tx() as s:
        add_records(s, "Lead", {"Id": person, "LastName": "伊藤", "Industry": "製造"})
        jobs.process_changes(s)
    assert score_of(tx, person).score == 0
    with tx() as s:
        apply_records(s, "Lead", [{"Id": person, "Industry": "小売",
                                   "SystemModstamp": "2026-11-21T10:00:00.000+0000"}], "poll")
        jobs.process_changes(s)
    assert score_of(tx, person).score == 15
    with tx() as s:
        reasons = [h.reason for h in service.score_history(s, person)]
    assert reasons == ["Salesforce の項目変更 (属性スコア)"]


def test_attended_campaign_member_status_earns_event_points(tx):
    person = "003000000000000002"
    with tx() as s:
        add_records(s, "CampaignMember", {"Id": "00v000000000000001", "ContactId": person,
                                          "CampaignId": "701000000000000001", "Status": "送信済み"})
        jobs.process_changes(s)
        apply_records(s, "CampaignMember", [{"Id": "00v000000000000001", "Status": "出席",
                                             "SystemModstamp": "2026-11-21T10:00:00.000+0000"}], "poll")
        jobs.process_changes(s)
    score_all(tx)
    assert score_of(tx, person).score == 30


def test_behaviour_points_decay_with_age(tx):
    person = lead_id(20)
    with tx() as s:
        add_activity(s, "form_submit", person, days_ago=10)    # 50 → 50
        add_activity(s, "mail_open", person, days_ago=100)     # 10 → 5
        add_activity(s, "form_submit", person, days_ago=200)   # 50 → 0
        add_activity(s, "mail_click", person, days_ago=91)     # 3 → 1.5, summed before truncation
    score_all(tx)
    assert score_of(tx, person).behaviour == (50 * 100 + 10 * 50 + 50 * 0 + 3 * 50) // 100


def test_hourly_decay_job_lowers_the_score_when_points_pass_an_age_step(tx):
    person = lead_id(21)
    with tx() as s:
        add_activity(s, "form_submit", person, days_ago=89.99)
    score_all(tx)
    assert score_of(tx, person).score == 50
    with tx() as s:
        changed = service.decay(s, now=utcnow() + timedelta(hours=1))
    assert changed == 1
    assert score_of(tx, person).score == 25
    with tx() as s:
        assert service.decay(s, now=utcnow() + timedelta(hours=1)) == 0  # the same step applies once
        reasons = [h.reason for h in service.score_history(s, person)]
    assert reasons[0] == "時間経過による減衰"


def test_stage_needs_both_the_score_and_the_behaviour(tx):
    a, b, c = lead_id(30), lead_id(31), lead_id(32)
    with tx() as s:
        for _ in range(3):
            add_activity(s, "mail_open", a)           # 30 points, never saw pricing
        add_activity(s, "mail_open", b)
        add_activity(s, "mail_open", b)
        add_activity(s, "page_view", b, url="https://x.example/pricing")  # 25 with pricing
        add_activity(s, "form_submit", c)
        add_activity(s, "mail_open", c)               # 60 with a form
        add_activity(s, "page_view", c, url="https://x.example/pricing")
    score_all(tx)
    assert [score_of(tx, p).stage for p in (a, b, c)] == ["情報収集", "比較検討", "導入検討"]


def test_full_rescore_gives_every_mirrored_person_a_row_and_logs_changes(tx):
    with tx() as s:
        add_records(s, "Lead", *({"Id": lead_id(100 + i), "LastName": f"L{i}", "Industry": "小売"}
                                 for i in range(5)))
        result = service.rescore(s, None, reason="モデル変更")
    assert (result.people, result.changed) == (5, 5)
    with tx() as s:
        reasons = set(s.scalars(select(ScoreHistory.reason)))
    assert reasons == {"モデル変更"}
