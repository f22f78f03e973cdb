"""Date-relative triggers (campaign countdowns) on a controlled clock."""

from __future__ import annotations

from tests.automations.helpers import load, outbox, run, template, tokyo, upsert, writebacks

COUNTDOWN = """
automations:
  - key: countdown-3
    name: 終了3日前
    trigger: {type: date_relative, object: CampaignMember, date_field: Campaign.EndDate, offset_days: -3, at: "09:00"}
    conditions: [{field: Campaign.IsActive, op: is_true}]
    actions:
      - {type: send_mail, template: left3}
      - {type: campaign_member_status, status: 3日前メール送信済み}
  - key: countdown-0
    name: 本日終了
    trigger: {type: date_relative, object: CampaignMember, date_field: Campaign.EndDate, offset_days: 0, at: "09:00"}
    actions: [{type: send_mail, template: today}]
"""


def _campaign(app, end_date="2026-12-04", members=2):
    template(app, "left3")
    template(app, "today")
    load(app, COUNTDOWN)
    campaign = upsert(app, "Campaign", Name="冬の感謝祭", EndDate=end_date, IsActive=True)
    ids = []
    for i in range(members):
        contact = upsert(app, "Contact", LastName=f"会員{i}", Email=f"m{i}@example.jp")
        ids.append(upsert(app, "CampaignMember", CampaignId=campaign, ContactId=contact, Status="Sent"))
    return campaign, ids


def test_three_days_left_goes_to_every_member_at_nine_once(app):
    _campaign(app)
    run(app, tokyo(2026, 12, 1, 8, 59))
    assert outbox(app) == []
    run(app, tokyo(2026, 12, 1, 9, 0))
    run(app, tokyo(2026, 12, 1, 9, 0, 30))
    run(app, tokyo(2026, 12, 1, 15, 0))
    assert sorted((m.to_address, m.template_key) for m in outbox(app)) == [
        ("m0@example.jp", "left3"), ("m1@example.jp", "left3")]


def test_the_countdown_updates_campaign_member_status_in_salesforce(app):
    _, members = _campaign(app)
    run(app, tokyo(2026, 12, 1, 9, 0))
    updates = writebacks(app, "CampaignMember")
    assert sorted(u.record_id for u in updates) == sorted(members)
    assert {u.fields["Status"] for u in updates} == {"3日前メール送信済み"}


def test_ends_today_goes_out_on_the_end_date(app):
    _campaign(app)
    run(app, tokyo(2026, 12, 1, 9, 0))
    run(app, tokyo(2026, 12, 4, 9, 5))
    assert sorted(m.template_key for m in outbox(app)) == ["left3", "left3", "today", "today"]


def test_a_missed_tick_catches_up_within_the_grace_period(app):
    _campaign(app, members=1)
    # The clock was down at 09:00; the next tick at 18:00 still sends the 3-days-left mail.
    run(app, tokyo(2026, 12, 1, 18, 0))
    assert [m.template_key for m in outbox(app)] == ["left3"]


def test_inactive_campaigns_get_no_countdown(app):
    campaign, _ = _campaign(app, members=1)
    upsert(app, "Campaign", Id=campaign, IsActive=False)
    run(app, tokyo(2026, 12, 1, 9, 0))
    assert outbox(app) == []
