"""Periodic mail work: log sent mail as 'mail_sent' activity and as completed Salesforce Tasks."""

from __future__ import annotations

import time
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select

import db
from activity.record import record_activity
from mail.compliance import person_object
from mail.models import OutboxMail

BATCH = 1000
TIME_BUDGET_SECONDS = 30.0


def _log_batch(timezone: ZoneInfo) -> int:
    from writeback.queue import enqueue

    now = db.utcnow()
    with db.transaction() as session:
        rows = list(session.scalars(
            select(OutboxMail).where(OutboxMail.status == "sent", OutboxMail.logged_at.is_(None))
            .order_by(OutboxMail.id).limit(BATCH).with_for_update(skip_locked=True)
        ))
        for row in rows:
            sent_at = row.sent_at or now
            record_activity(session, "mail_sent", person_id=row.person_id, occurred_at=sent_at,
                            details={"mail_id": row.id, "template_key": row.template_key, "origin": row.origin,
                                     "origin_ref": row.origin_ref, "unconfirmed": row.unconfirmed})
            if person_object(row.person_id):
                enqueue(session, key=f"mail.task:{row.id}", object_name="Task", operation="create", fields={
                    "WhoId": row.person_id,
                    "Subject": f"メール: {row.subject or row.template_key}"[:255],
                    "Status": "Completed",
                    "ActivityDate": sent_at.astimezone(timezone).date().isoformat(),
                    "Description": f"tsunagi から送信 ({row.template_key}) 宛先 {row.to_address}"[:32000],
                }, origin="mail", origin_ref=str(row.id))
            row.logged_at = now
    return len(rows)


def log_tasks(_payload: dict[str, Any]) -> None:
    """Job mail.log_tasks: record sent mails in batches until none are left or time is up."""
    timezone = ZoneInfo(current_app.config["TSUNAGI"].timezone)
    started = time.monotonic()
    while _log_batch(timezone) == BATCH and time.monotonic() - started < TIME_BUDGET_SECONDS:
        pass
