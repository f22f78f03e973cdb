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
_serial = itertools.count(1)
_stamp = itertools.count(1)

PREFIX = {"Lead": "00Q", "Contact": "003", "Task": "00T", "Campaign": "701", "CampaignMember": "00v",
          "User": "005", "Account": "001", "Opportunity": "006"}


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


def outbox(app: Any) -> list[Any]:
    """Every mail in the outbox, oldest first."""
    from mail.models import OutboxMail

    with dbmod.get_db(app).transaction() as session:
        rows = list(session.scalars(select(OutboxMail).order_by(OutboxMail.id)))
        session.expunge_all()
        return rows


def writebacks(app: Any, object_name: str | None = None) -> list[Any]:
    """Every queued write to Salesforce (optionally of one object), oldest first."""
    from writeback.models import WritebackItem

    with dbmod.get_db(app).transaction() as session:
        stmt = select(WritebackItem).order_by(WritebackItem.id)
        if object_name:
            stmt = stmt.where(WritebackItem.object_name == object_name)
        rows = list(session.scalars(stmt))
        session.expunge_all()
        return rows


def history(app: Any, outcome: str | None = None) -> list[Any]:
    """History rows (optionally of one outcome), oldest first."""
    from automations.models import AutomationRun

    with dbmod.get_db(app).transaction() as session:
        stmt = select(AutomationRun).order_by(AutomationRun.id)
        if outcome:
            stmt = stmt.where(AutomationRun.outcome == outcome)
        rows = list(session.scalars(stmt))
        session.expunge_all()
        return rows
