"""Seeding helpers for scoring and reports tests: mirror people, activity, the active model."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from activity.record import record_activity
from db import utcnow
from sync.mirror import apply_records

STAMP = "2026-11-20T10:00:00.000+0000"


def lead_id(n: int) -> str:
    """A Lead Id (00Q prefix), 18 characters."""
    return f"00Q{n:015d}"


def contact_id(n: int) -> str:
    """A Contact Id (003 prefix), 18 characters."""
    return f"003{n:015d}"


def user_id(n: int) -> str:
    """A User Id (005 prefix), 18 characters."""
    return f"005{n:015d}"


def add_records(session: Any, object_name: str, *records: dict[str, Any]) -> None:
    """Mirror records through sync's own upsert (as a poll would)."""
    apply_records(session, object_name, [{"SystemModstamp": STAMP, **r} for r in records], "poll")


def add_activity(session: Any, kind: str, person_id: str | None, days_ago: float = 0,
                 visitor_id: str | None = None, **details: Any) -> Any:
    """One activity `days_ago` days back."""
    when: datetime = utcnow() - timedelta(days=days_ago)
    return record_activity(session, kind, person_id=person_id, details=details, visitor_id=visitor_id,
                           occurred_at=when)


MODEL = """
behaviour:
  - {name: form_submit, label: フォーム送信, kind: form_submit, points: 50}
  - {name: pricing_page, label: 料金ページ, kind: page_view, url: "*/pricing*", points: 5}
  - {name: page_view, label: ページ閲覧, kind: page_view, points: 1}
  - {name: mail_open, label: 開封, kind: mail_open, points: 10}
  - {name: mail_click, label: クリック, kind: mail_click, points: 3}
  - {name: attended, label: イベント参加, kind: campaign_status, status: [出席, Attended], points: 30}
  - {name: unsubscribe, label: 配信停止, kind: unsubscribe, points: -40}
fit:
  - {name: industry, field: Industry, in: [小売, 食品], points: 15}
  - {name: large, field: NumberOfEmployees, min: 100, points: 10}
  - {name: kanto, field: [State, MailingState], in: [東京都, 神奈川県], points: 5}
  - {name: lost, field: Status, in: [Closed - Not Converted], points: -100}
decay:
  - {older_than_days: 90, keep_percent: 50}
  - {older_than_days: 180, keep_percent: 0}
stages:
  - {name: 情報収集, min_score: 0}
  - {name: 比較検討, min_score: 20, requires_any: [pricing_page]}
  - {name: 導入検討, min_score: 60, requires_any: [form_submit]}
thresholds:
  - {name: hot_lead, score: 100, notify_owner: true, mail_template: hot, create_task: true,
     task_subject: "ホットリード {score}"}
"""
