"""Helpers for automations tests: mirror records through sync's apply_records, YAML loading,
running the workers at a controlled time, and reading what landed in the outbox and write-back queue."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

import db as dbmod

TOKYO = ZoneInfo("Asia/Tokyo")
# A broadcast to every member (the all-members segment), as the approval tests prepare it.
WINTER_BROADCAST = """key: winter-news
name: 冬のお知らせ
trigger: {type: broadcast, segment: all-members, at: "2027-01-10T09:00:00+09:00"}
steps:
  - name: お知らせ
    actions:
      - {type: send_mail, template: winter}
"""
_serial = itertools.count(1)
_stamp = itertools.count(1)

PREFIX = {"Lead": "00Q", "Contact": "003", "Task": "00T", "Campaign": "701", "CampaignMember": "00v",
          "User": "005", "Account": "001", "Opportunity": "006"}


def absent_follow_up(setting: str, *more_steps: str) -> str:
    """YAML of the absent follow-up (mail `revisit` when a visit is marked 不在) with one more `setting`
    line and any further steps."""
    steps = "".join(f"      - {step}\n" for step in more_steps)
    return f"""
automations:
  - key: absent
    name: 不在フォロー
    {setting}
    trigger: {{type: field_changed, object: Task, field: Visit_Result__c, to: 不在}}
    steps:
      - {{name: 再訪問のご案内, actions: [{{type: send_mail, template: revisit}}]}}
{steps}"""


def sf_id(object_name: str) -> str:
    """A fresh 18-character id with the object's key prefix."""
    return f"{PREFIX[object_name]}{next(_serial):012d}AAA"


def tokyo(*args: int) -> datetime:
    """A Tokyo wall-clock time as an aware datetime."""
    return datetime(*args, tzinfo=TOKYO)


def upsert(app: Any, object_name: str, source: str = "poll", **fields: Any) -> str:
    """Create or change a record in the mirror as sync would (with change events); returns its Id."""
    from sync.mirror import apply_records

    record_id = fields.pop("Id", None) or sf_id(object_name)
    stamp = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=next(_stamp))
    with dbmod.get_db(app).transaction() as session:
        apply_records(session, object_name,
                      [{"Id": record_id, "SystemModstamp": stamp.isoformat(), **fields}], source)
    return record_id


def load(app: Any, text: str, enable: bool | None = True) -> None:
    """Load YAML (templates, segments, automations) as `flask automations load` would."""
    from automations import service

    with app.app_context(), dbmod.get_db(app).transaction() as session:
        service.load_documents(session, service.parse_yaml(text), enable)


def template(app: Any, key: str, subject: str = "件名 {{ person.LastName }}",
             html: str = "<p>{{ person.LastName }} 様</p>") -> None:
    """A mail template through mail's template service."""
    from mail.templates import save_template

    with app.app_context(), dbmod.get_db(app).transaction() as session:
        save_template(session, key=key, name=key, subject=subject, html=html)


def run(app: Any, now: datetime, worker_id: str = "test-worker") -> int:
    """Tick, then drain change events and due steps, as workers would at `now`."""
    from automations.jobs import run_all_once

    with app.app_context():
        return run_all_once(worker_id, now=now.astimezone(UTC))


def rows_of(app: Any, model: Any, *where: Any) -> list[Any]:
    """Every row of `model` that matches `where`, oldest first, detached from the session."""
    with dbmod.get_db(app).transaction() as session:
        rows = list(session.scalars(select(model).where(*where).order_by(model.id)))
        session.expunge_all()
        return rows


def outbox(app: Any) -> list[Any]:
    """Every mail in the outbox, oldest first."""
    from mail.models import OutboxMail

    return rows_of(app, OutboxMail)


def writebacks(app: Any, object_name: str | None = None) -> list[Any]:
    """Every queued write to Salesforce (optionally of one object), oldest first."""
    from writeback.models import WritebackItem

    return rows_of(app, WritebackItem, *([WritebackItem.object_name == object_name] if object_name else []))


def history(app: Any, outcome: str | None = None) -> list[Any]:
    """History rows (optionally of one outcome), oldest first."""
    from automations.models import AutomationRun

    return rows_of(app, AutomationRun, *([AutomationRun.outcome == outcome] if outcome else []))
