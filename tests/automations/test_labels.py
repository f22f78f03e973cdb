"""The automation and mail admin pages speak Japanese: no raw status code or trigger type in a table
cell, no ISO timestamp in the text (walked as an admin after an automation has run)."""

from __future__ import annotations

import re

from tests.automations.helpers import load, run, template, tokyo, upsert

ABSENT = """
automations:
  - key: absent
    name: 不在フォロー
    enabled: true
    consent: existing_relationship
    trigger: {type: field_changed, object: Task, field: Visit_Result__c, to: 不在}
    steps:
      - {name: 再訪問のご案内, actions: [{type: send_mail, template: revisit}]}
      - {name: 二通目, wait: {days: 3}, actions: [{type: send_mail, template: revisit}]}
"""
RAW_CODES = {"fired", "not_entered", "planned", "sent", "skipped", "exited", "failed", "finished", "queued",
             "running", "sending", "bounced", "field_changed", "record_created", "form_submitted",
             "date_relative", "score_threshold", "broadcast", "manual"}
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


def _cells(html: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", html, re.S)]


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style)[^>]*>.*?</\1>", "", html, flags=re.S))


def test_every_automation_and_mail_admin_page_shows_words_not_codes(app, sign_in):
    template(app, "revisit", subject="{{ person.LastName }} 様、ご不在でした")
    load(app, ABSENT)
    contact = upsert(app, "Contact", LastName="山田", Email="yamada@example.jp", HasOptedOutOfEmail=False)
    task = upsert(app, "Task", WhoId=contact, Visit_Result__c=None)
    upsert(app, "Task", Id=task, Visit_Result__c="不在")
    run(app, tokyo(2026, 12, 1, 10, 0))  # fired, planned, the first mail queued, the second step planned
    admin = sign_in("admin")
    pages = ["/admin/automations/", "/admin/automations/absent", f"/admin/automations/people/{contact}",
             "/admin/automations/absent/dry-run", "/admin/mail/"]
    for path in pages:
        html = admin.get(path).get_data(as_text=True)
        raw = [c for c in _cells(html) if c in RAW_CODES or c.split(" · ")[0] in RAW_CODES]
        assert raw == [], (path, raw)
        assert not ISO.search(_text(html)), (path, ISO.search(_text(html)).group(0))
    history = admin.get("/admin/automations/absent").get_data(as_text=True)
    assert "開始" in _cells(history) and "予定" in _cells(history)
