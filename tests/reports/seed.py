"""Seeded report data with known figures (the tests state the expected numbers by hand)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import db
from activity.record import record_activity
from automations.models import Automation, AutomationRun
from forms.models import Submission
from mail.models import OutboxMail
from reports import service, snapshots
from tests.scoring.people import add_records, lead_id


def at(text: str) -> datetime:
    """A UTC instant from 'YYYY-MM-DDTHH:MM'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def save_snapshot(app: Any, query: dict[str, str], key_of: Callable[[date, date], str],
                  figures_of: Callable[[Any, Any], Any]) -> None:
    """Refresh a snapshot as the job does, but for the seeded range `query` (as on 2026-11-15), so
    snapshot and live figures can be compared."""
    with app.app_context():
        rng = service.parse_range(query, "Asia/Tokyo", today=date(2026, 11, 15))
        with db.get_db(app).transaction() as session:
            snapshots.save(session, key_of(rng.first, rng.last), lambda: figures_of(session, rng))


def mail(session: Any, n: int, key: str, person: str, sent: str, status: str = "sent") -> OutboxMail:
    row = OutboxMail(send_key=f"{key}/0/{person}/once#{n}", to_address=f"p{n}@example.jp", to_domain="example.jp",
                     template_key="welcome", context={}, person_id=person, marketing=True, origin="automations",
                     origin_ref=f"{key}/0/{person}/once", message_id=f"<m{n}@example.jp>", status=status,
                     sent_at=at(sent), due_at=at(sent), attempts=1)
    session.add(row)
    session.flush()
    return row


def seed_automation_funnel(session: Any) -> None:
    """Automation 'welcome': 4 entries in range (1 before), 4 mails in range (1 bounced, 1 outside)."""
    welcome = Automation(key="welcome", name="ようこそメール", enabled=True, spec={})
    other = Automation(key="winback", name="休眠掘り起こし", enabled=True, spec={})
    session.add_all([welcome, other])
    session.flush()
    for when in ("2026-11-02T01:00", "2026-11-03T01:00", "2026-11-04T01:00", "2026-11-05T01:00",
                 "2026-10-20T01:00"):
        session.add(AutomationRun(automation_id=welcome.id, outcome="fired", occurred_at=at(when)))
    session.add(AutomationRun(automation_id=welcome.id, outcome="planned", occurred_at=at("2026-11-02T01:00")))
    session.add(AutomationRun(automation_id=other.id, outcome="fired", occurred_at=at("2026-11-06T01:00")))
    p1, p2, p3, p4, p5 = (lead_id(n) for n in range(1, 6))
    m1 = mail(session, 1, "welcome", p1, "2026-11-02T02:00")
    m2 = mail(session, 2, "welcome", p2, "2026-11-03T02:00")
    m3 = mail(session, 3, "welcome", p3, "2026-11-04T02:00")
    mail(session, 4, "welcome", p4, "2026-11-05T02:00", status="bounced")
    mail(session, 5, "welcome", p5, "2026-10-01T02:00")       # before the range
    mail(session, 6, "winback", p5, "2026-11-06T02:00", status="queued")  # not sent yet
    for m, kind, when in ((m1, "mail_open", "2026-11-02T03:00"), (m1, "mail_open", "2026-11-02T04:00"),
                          (m2, "mail_open", "2026-11-03T05:00"), (m3, "mail_open", "2026-11-04T03:00"),
                          (m1, "mail_click", "2026-11-02T03:01"), (m2, "mail_click", "2026-11-03T05:01")):
        record_activity(session, kind, person_id=m.person_id, occurred_at=at(when),
                        details={"mail_id": m.id, "origin": "automations", "origin_ref": m.origin_ref})
    # Conversions: p1 submits 3 days after the mail (counts); p2 40 days after (too late);
    # p3 submitted before the mail (does not count).
    record_activity(session, "form_submit", person_id=p1, occurred_at=at("2026-11-05T00:00"), details={"form": "c"})
    record_activity(session, "form_submit", person_id=p2, occurred_at=at("2026-12-13T00:00"), details={"form": "c"})
    record_activity(session, "form_submit", person_id=p3, occurred_at=at("2026-11-01T00:00"), details={"form": "c"})


def seed_deliverability(session: Any) -> None:
    """Bounces and unsubscribes around a Tokyo day boundary (JST = UTC+9)."""
    for when, kind, hard in (("2026-11-02T14:59", "mail_bounce", True),    # 11-02 23:59 JST
                             ("2026-11-02T15:00", "mail_bounce", False),   # 11-03 00:00 JST
                             ("2026-11-03T10:00", "mail_bounce", False),
                             ("2026-11-03T10:00", "unsubscribe", None),
                             ("2026-11-20T10:00", "unsubscribe", None)):   # outside the range
        details = {"hard": hard} if hard is not None else {}
        record_activity(session, kind, person_id=lead_id(9), occurred_at=at(when), details=details)


def seed_forms(session: Any) -> None:
    """Form 'contact': 4 submissions in range, 1 failed, 1 pending; form 'visit': 2, none failed."""
    rows = [("contact", "written", "2026-11-02T01:00"), ("contact", "failed", "2026-11-02T02:00"),
            ("contact", "pending", "2026-11-03T01:00"), ("contact", "written", "2026-11-04T01:00"),
            ("contact", "failed", "2026-10-01T01:00"), ("visit", "written", "2026-11-02T01:00"),
            ("visit", "written", "2026-11-03T01:00")]
    for n, (key, status, when) in enumerate(rows):
        session.add(Submission(idempotency_key=f"k{n}", form_key=key, data={}, status=status,
                               writeback_item_ids=[], search_text="", created_at=at(when), updated_at=at(when)))


def seed_campaigns(session: Any) -> None:
    """Campaign 'セミナー' with 3 members (2 attended, 1 responded flag)."""
    add_records(session, "Campaign", {"Id": "701000000000000001", "Name": "秋のセミナー", "Type": "Seminar"})
    add_records(session, "CampaignMember",
                {"Id": "00v000000000000001", "CampaignId": "701000000000000001", "LeadId": lead_id(1),
                 "Status": "出席", "HasResponded": True},
                {"Id": "00v000000000000002", "CampaignId": "701000000000000001", "LeadId": lead_id(2),
                 "Status": "出席", "HasResponded": False},
                {"Id": "00v000000000000003", "CampaignId": "701000000000000001", "LeadId": lead_id(3),
                 "Status": "送信済み", "HasResponded": False})
