"""Admin pages: list, create/edit in YAML, enable/disable (audited), dry run, history, segments."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

import db as dbmod
from tests.automations.helpers import absent_follow_up, load, outbox, run, template, tokyo, upsert

ABSENT = absent_follow_up("enabled: true",
                          "{name: 二通目, wait: {days: 3}, actions: [{type: send_mail, template: revisit}]}")


def _absent_task(app):
    template(app, "revisit", subject="{{ person.LastName }} 様、ご不在でした")
    load(app, ABSENT, enable=None)
    contact = upsert(app, "Contact", LastName="山田", Email="yamada@example.jp")
    task = upsert(app, "Task", WhoId=contact, Visit_Result__c=None)
    upsert(app, "Task", Id=task, Visit_Result__c="不在")
    return contact, task


def test_only_admins_see_the_pages(app, sign_in):
    assert app.test_client().get("/admin/automations/").status_code == 302
    assert sign_in("operator").get("/admin/automations/").status_code == 403
    page = sign_in("admin").get("/admin/automations/")
    assert page.status_code == 200
    assert "オートメーション" in page.get_data(as_text=True)


def test_create_from_yaml_then_it_is_listed(app, sign_in):
    template(app, "revisit")  # the mail it names must exist (checked on save)
    admin = sign_in("admin")
    response = admin.post("/admin/automations/new", data={"document": ABSENT.split("automations:\n  - ", 1)[1]
                                                          .replace("\n    ", "\n")})
    assert response.status_code == 302
    listing = admin.get("/admin/automations/").get_data(as_text=True)
    assert "不在フォロー" in listing and "Task.Visit_Result__c" in listing


def test_invalid_yaml_is_shown_back_with_every_error(app, sign_in):
    admin = sign_in("admin")
    response = admin.post("/admin/automations/new", data={"document": "key: x\ntrigger: {type: nope}\n"})
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "trigger.type" in body and "steps" in body
    assert "key: x" in body  # what the admin wrote is kept


def test_posts_without_a_csrf_token_are_refused(make_app, sign_in):
    app = make_app(config={"WTF_CSRF_ENABLED": True})
    load(app, ABSENT)
    client = app.test_client()
    assert client.post("/admin/automations/absent/disable").status_code == 400
    assert client.post("/admin/automations/new", data={"document": "key: x"}).status_code == 400


def test_disabling_is_audited_and_stops_planned_steps(app, sign_in):
    from people.models import AuditEntry

    _absent_task(app)
    run(app, tokyo(2026, 11, 24, 12))
    assert len(outbox(app)) == 1
    admin = sign_in("admin")
    assert admin.post("/admin/automations/absent/disable").status_code == 302
    run(app, tokyo(2026, 11, 30, 12))
    assert len(outbox(app)) == 1
    with dbmod.get_db(app).transaction() as session:
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "automation.disable")).all()
        assert entry.target == "absent" and entry.user_id is not None
    detail = admin.get("/admin/automations/absent").get_data(as_text=True)
    assert "オートメーションが無効です" in detail


def test_history_per_automation_and_per_person_says_what_happened_and_why(app, sign_in):
    contact, _task = _absent_task(app)
    run(app, tokyo(2026, 11, 24, 12))
    admin = sign_in("admin")
    detail = admin.get("/admin/automations/absent").get_data(as_text=True)
    assert "fired" in detail and "Visit_Result__c" in detail and "revisit → yamada@example.jp" in detail
    person = admin.get(f"/admin/automations/people/{contact}").get_data(as_text=True)
    assert "不在フォロー" in person and "sent" in person and "planned" in person


def test_dry_run_shows_who_is_affected_and_the_rendered_mail_without_sending(app, sign_in):
    _absent_task(app)
    page = sign_in("admin").get("/admin/automations/absent/dry-run")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "yamada@example.jp" in body
    assert "山田 様、ご不在でした" in body
    assert outbox(app) == []


def test_a_segment_shows_its_live_count(app, sign_in):
    upsert(app, "Lead", LastName="A", State="東京都", LeadSource="Web", HasOptedOutOfEmail=False)
    upsert(app, "Lead", LastName="B", State="東京都", LeadSource="Web", HasOptedOutOfEmail=True)
    upsert(app, "Lead", LastName="C", State="大阪府", LeadSource="Web", HasOptedOutOfEmail=False)
    admin = sign_in("admin")
    created = admin.post("/admin/automations/segments/new", data={"document": """
key: tokyo-web
name: 東京のWebリード
objects: [Lead]
conditions:
  - {field: State, op: eq, value: 東京都}
  - {field: HasOptedOutOfEmail, op: is_false}
"""})
    assert created.status_code == 302
    page = admin.get("/admin/automations/segments/tokyo-web").get_data(as_text=True)
    assert '<strong class="segment-count">1</strong>' in page
    upsert(app, "Lead", LastName="D", State="東京都", HasOptedOutOfEmail=False)
    page = admin.get("/admin/automations/segments/tokyo-web").get_data(as_text=True)
    assert '<strong class="segment-count">2</strong>' in page


def test_a_broadcast_sends_to_its_segment_in_the_send_window_and_marks_campaign_members(app):
    template(app, "news")
    campaign = upsert(app, "Campaign", Name="年末のご案内", IsActive=True)
    yes = upsert(app, "Contact", LastName="会員", Email="yes@example.jp", State="東京都")
    upsert(app, "Contact", LastName="対象外", Email="no@example.jp", State="大阪府")
    member = upsert(app, "CampaignMember", CampaignId=campaign, ContactId=yes, Status="Planned")
    load(app, f"""
segments:
  - key: tokyo
    name: 東京
    conditions: [{{field: State, op: eq, value: 東京都}}, {{field: campaign, op: eq, value: {campaign}}}]
automations:
  - key: year-end
    name: 年末一斉配信
    trigger: {{type: broadcast, segment: tokyo, at: "2026-12-01T07:00:00+09:00", campaign_id: {campaign}}}
    window: {{start: "09:00", end: "20:00"}}
    actions:
      - {{type: send_mail, template: news}}
      - {{type: campaign_member_status, status: 送信済み}}
""")
    run(app, tokyo(2026, 11, 30, 12))
    assert outbox(app) == []
    run(app, tokyo(2026, 12, 1, 7, 30))  # its time has come, but the window opens at 09:00
    assert outbox(app) == []
    run(app, tokyo(2026, 12, 1, 9, 0))
    run(app, datetime(2026, 12, 2, tzinfo=UTC))
    assert [m.to_address for m in outbox(app)] == ["yes@example.jp"]
    from tests.automations.helpers import writebacks

    [status] = writebacks(app, "CampaignMember")
    assert (status.operation, status.record_id, status.fields) == ("update", member, {"Status": "送信済み"})
