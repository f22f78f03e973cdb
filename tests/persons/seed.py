"""One person with a bit of everything: mirror record, mails, activity, score, consent, automation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from automations.models import Automation, Enrollment, PlannedStep
from db import utcnow
from mail.models import MailConsent, OutboxMail
from scoring.models import PersonScore, ScoreHistory
from tests.scoring.people import add_activity, add_records, contact_id, lead_id


def mail(session: Any, n: int, person_id: str | None, address: str, status: str = "sent", *,
         skip_reason: str | None = None, origin: str = "", origin_ref: str = "", minutes_ago: int = 0) -> OutboxMail:
    """One outbox row as the worker leaves it."""
    when = utcnow() - timedelta(minutes=minutes_ago)
    row = OutboxMail(send_key=f"seed/{n}", to_address=address, to_domain=address.rpartition("@")[2],
                     template_key="follow_up", person_id=person_id, message_id=f"<seed{n}@example.jp>",
                     subject=f"件名{n}", status=status, skip_reason=skip_reason, origin=origin,
                     origin_ref=origin_ref, created_at=when, sent_at=when if status == "sent" else None)
    session.add(row)
    session.flush()
    return row


def seed_person(session: Any) -> str:
    """山田 花子 (a Lead) with two mails (one opened and clicked), a page view, a form, a visit,
    a score change, consent given then withdrawn, and a running automation. Returns her id."""
    hanako = lead_id(1)
    add_records(session, "Lead", {"Id": hanako, "LastName": "山田", "FirstName": "花子", "Email": "hanako@example.jp",
                                  "Phone": "03-1234-5678", "PostalCode": "100-0001", "State": "東京都",
                                  "City": "千代田区", "Street": "千代田1-1", "Company": "生協テスト"})
    add_records(session, "Contact", {"Id": contact_id(2), "LastName": "佐藤", "FirstName": "一郎",
                                     "Email": "ichiro@example.jp"})
    add_records(session, "Task", {"Id": "00T000000000000001", "WhoId": hanako, "Subject": "訪問",
                                  "Visit_Result__c": "不在", "ActivityDate": "2026-11-20"})
    opened = mail(session, 1, hanako, "hanako@example.jp", minutes_ago=50,
                  origin="automations", origin_ref=f"welcome/0/{hanako}/once")
    mail(session, 2, hanako, "hanako@example.jp", "skipped", skip_reason="no_consent", minutes_ago=40)
    mail(session, 3, contact_id(2), "ichiro@example.jp", minutes_ago=30)
    add_activity(session, "mail_open", hanako, days_ago=0.02, mail_id=opened.id)
    add_activity(session, "mail_click", hanako, days_ago=0.019, mail_id=opened.id, url="https://coop.example.jp/x")
    add_activity(session, "page_view", hanako, days_ago=0.01, url="https://coop.example.jp/pricing", title="料金")
    add_activity(session, "form_submit", hanako, days_ago=0.005, form_key="shiryo")
    session.add(PersonScore(person_id=hanako, object_name="Lead", score=63, stage="比較検討"))
    session.add(ScoreHistory(person_id=hanako, score_before=10, score_after=63, reason="フォーム送信 +50, 開封 +3",
                             changed_at=utcnow() - timedelta(minutes=5)))
    session.add(MailConsent(address="hanako@example.jp", person_id=hanako, granted=True, source="shiryo",
                            occurred_at=utcnow() - timedelta(days=3)))
    session.add(MailConsent(address="hanako@example.jp", person_id=None, granted=False, source="unsubscribe_page",
                            occurred_at=utcnow() - timedelta(minutes=1)))
    automation = Automation(key="welcome", name="ようこそシリーズ", enabled=True,
                            spec={"key": "welcome", "name": "ようこそシリーズ", "trigger": {"type": "manual"},
                                  "steps": [{"send_mail": {"template": "follow_up"}}]})
    session.add(automation)
    session.flush()
    entry = Enrollment(automation_id=automation.id, subject_id=hanako, occurrence="once", person_id=hanako,
                       enrolled_at=utcnow() - timedelta(minutes=55))
    session.add(entry)
    session.flush()
    session.add(PlannedStep(plan_key=f"welcome/1/{hanako}/once", automation_id=automation.id,
                            enrollment_id=entry.id, step_index=1, person_id=hanako,
                            due_at=utcnow() + timedelta(days=2)))
    return hanako
