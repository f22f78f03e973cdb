"""An honest dry run, as an admin checks an automation before it reaches members: the same
eligibility as the real run (consent, suppression, opt-out, re-entry), the total with paging, and
for a field-change trigger only the changes that would fire now."""

from __future__ import annotations

import re

import db as dbmod
from tests.automations.helpers import absent_follow_up, load, outbox, run, template, tokyo, upsert

NEWS = """
automations:
  - key: news
    name: 今週のおすすめ
    trigger: {type: manual}
    conditions:
      - {field: LeadSource, op: eq, value: Web}
    reentry: never
    steps:
      - {name: お知らせ, actions: [{type: send_mail, template: news}]}
"""

ABSENT = absent_follow_up("consent: existing_relationship")


def _consent(app, address, granted=True):
    from mail.compliance import record_consent

    with app.app_context(), dbmod.get_db(app).transaction() as session:
        record_consent(session, address=address, granted=granted, source="form:materials_request")


def _unsubscribe(app, address):
    from mail.compliance import suppress

    with app.app_context(), dbmod.get_db(app).transaction() as session:
        suppress(session, address, reason="unsubscribe", source="unsubscribe_page")


def _enter(app, person_id, now):
    from automations.conditions import MirrorView
    from automations.engine import Runtime, enroll
    from automations.queries import automation_by_key

    with app.app_context(), dbmod.get_db(app).transaction() as session:
        automation = session.scalar(automation_by_key("news"))
        assert enroll(session, Runtime(now=now), automation, MirrorView(session).get(person_id),
                      occurrence="earlier", why="test") is not None


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_dry_run_counts_only_who_the_real_run_would_mail_and_pages_the_rest(app, sign_in):
    template(app, "news")
    load(app, NEWS, enable=None)
    for n in range(110):
        upsert(app, "Lead", LastName=f"会員{n:03d}", Email=f"member{n}@example.jp", LeadSource="Web",
               HasOptedOutOfEmail=False)
        _consent(app, f"member{n}@example.jp")
    upsert(app, "Lead", LastName="停止", Email="optout@example.jp", LeadSource="Web", HasOptedOutOfEmail=True)
    _consent(app, "optout@example.jp")
    upsert(app, "Lead", LastName="解除", Email="unsub@example.jp", LeadSource="Web", HasOptedOutOfEmail=False)
    _consent(app, "unsub@example.jp")
    _unsubscribe(app, "unsub@example.jp")
    upsert(app, "Lead", LastName="未同意", Email="nobody-asked@example.jp", LeadSource="Web",
           HasOptedOutOfEmail=False)
    again = upsert(app, "Lead", LastName="登録済み", Email="again@example.jp", LeadSource="Web",
                   HasOptedOutOfEmail=False)
    _consent(app, "again@example.jp")
    _enter(app, again, tokyo(2026, 11, 1, 10, 0))
    upsert(app, "Lead", LastName="対象外", Email="phone@example.jp", LeadSource="Phone", HasOptedOutOfEmail=False)

    admin = sign_in("admin")
    raw = [admin.get(f"/admin/automations/news/dry-run?page={p}").get_data(as_text=True) for p in (1, 2, 3)]
    first = _text(raw[0])
    assert "送信対象: 110 人" in first
    assert "条件に合うレコード: 114" in first
    assert "114 件中 1–50 件を表示" in first
    assert "メール配信停止（HasOptedOutOfEmail）: 1" in first
    assert "配信停止の申し出: 1" in first
    assert "オプトイン同意なし（広告メールには事前の同意が必要です）: 1" in first
    assert "再登録ルールにより対象外（登録済み）: 1" in first
    assert "phone@example.jp" not in first

    assert "114 件中 101–114 件を表示" in _text(raw[2])
    shown = {address: verdict.strip() for page in raw
             for address, verdict in re.findall(r"<td>([^<]+@example\.jp)</td>\s*<td>([^<]*)</td>", page)}
    assert len(shown) == 114
    assert shown["optout@example.jp"].startswith("除外")
    assert shown["unsub@example.jp"].startswith("除外")
    assert shown["member7@example.jp"] == "送信します"
    assert outbox(app) == []


def test_dry_run_of_a_field_change_lists_only_changes_that_would_fire_now(app, sign_in):
    template(app, "revisit", subject="{{ person.LastName }} 様、ご不在でした")
    load(app, ABSENT, enable=None)
    old_contact = upsert(app, "Contact", LastName="古川", Email="old@example.jp", HasOptedOutOfEmail=False)
    old_task = upsert(app, "Task", WhoId=old_contact, Visit_Result__c=None)
    upsert(app, "Task", Id=old_task, Visit_Result__c="不在")
    run(app, tokyo(2026, 12, 1, 10, 0))  # last month's visit: its change has been handled
    before = len(outbox(app))
    new_contact = upsert(app, "Contact", LastName="新井", Email="new@example.jp", HasOptedOutOfEmail=False)
    new_task = upsert(app, "Task", WhoId=new_contact, Visit_Result__c=None)
    upsert(app, "Task", Id=new_task, Visit_Result__c="不在")

    page = _text(sign_in("admin").get("/admin/automations/absent/dry-run").get_data(as_text=True))
    assert "送信対象: 1 人" in page
    assert "new@example.jp" in page and "old@example.jp" not in page
    assert "新井 様、ご不在でした" in page
    assert len(outbox(app)) == before
