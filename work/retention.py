"""Retention: the daily `work.retention` job deletes old rows in small committed batches.

Each kind of row has its own setting (RETENTION_*_DAYS; 0 keeps it forever). Rows are picked in
id order (`ORDER BY id LIMIT RETENTION_BATCH`), which needs no index on their timestamp: ids grow
with time, so the old rows are at the start of the primary key and each batch reads little more
than it deletes. Every batch is its own transaction, so a backlog of millions never holds a long
lock on a table workers are claiming from, and a stop request (SIGTERM, the job timeout) ends the
job between batches; it carries on from where it stopped on its next run.

Only finished rows go: change events already evaluated, mail already sent and logged, steps
and enrollments that ended, write-backs written or discarded (and no longer referred to).

Consent records (mail_consents) follow the law (特定電子メール法: keep the record of consent
until one month after the last mail sent on it), not a setting: the latest record of an address
is always kept (it is what today's mail rests on, or the proof of the withdrawal); an older one
goes once a newer record superseded it more than CONSENT_KEPT_AFTER ago and no marketing mail
went to the address within that month.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from config import settings_of
from db import get_db, utcnow

log = logging.getLogger(__name__)

RETENTION_BATCH = 5_000
# 特定電子メール法: one month after the last mail; 31 days covers every month.
CONSENT_KEPT_AFTER = timedelta(days=31)


@dataclass(frozen=True)
class Rule:
    """Rows of `model` to delete: `where(cutoff)` gives the conditions, `days` reads the setting."""

    name: str
    model: Callable[[], Any]
    days: Callable[[Any], int]
    where: Callable[[Any, datetime], list[Any]]


def _rules() -> list[Rule]:
    from activity.models import Activity
    from automations.models import AutomationRun, Enrollment, PlannedStep
    from mail.models import OutboxMail
    from sync.models import ChangeEvent
    from webhooks.models import OutboundNotification
    from writeback.models import WritebackItem

    def unreferenced(m: Any) -> Any:
        return m.id.not_in(select(WritebackItem.depends_on_id).where(WritebackItem.depends_on_id.is_not(None))
                           .scalar_subquery())

    return [
        Rule("change_events", lambda: ChangeEvent, lambda s: s.retention_change_events_days,
             lambda m, cut: [m.processed_at.is_not(None), m.recorded_at < cut]),
        Rule("activities", lambda: Activity, lambda s: s.retention_activities_days,
             lambda m, cut: [m.occurred_at < cut]),
        Rule("mail_outbox", lambda: OutboxMail, lambda s: max(s.retention_outbox_days, 31)
             if s.retention_outbox_days else 0,
             lambda m, cut: [m.status.in_(("sent", "bounced", "failed", "skipped")), m.created_at < cut,
                             (m.status != "sent") | m.logged_at.is_not(None)]),
        Rule("automation_planned_steps", lambda: PlannedStep, lambda s: s.retention_steps_days,
             lambda m, cut: [m.status.in_(("sent", "skipped", "exited", "failed")), m.done_at < cut]),
        # A broadcast's planning marker stays: it is what keeps a broadcast from being planned twice.
        Rule("automation_enrollments", lambda: Enrollment, lambda s: s.retention_enrollments_days,
             lambda m, cut: [m.status.in_(("finished", "exited")), m.ended_at < cut, m.subject_id != "broadcast",
                             ~exists().where(PlannedStep.enrollment_id == m.id)]),
        Rule("automation_runs", lambda: AutomationRun, lambda s: s.retention_history_days,
             lambda m, cut: [m.occurred_at < cut]),
        Rule("writeback_items", lambda: WritebackItem, lambda s: s.retention_writeback_days,
             lambda m, cut: [m.status.in_(("written", "discarded")), m.created_at < cut, unreferenced(m)]),
        Rule("outbound_notifications", lambda: OutboundNotification, lambda s: s.retention_notifications_days,
             lambda m, cut: [m.status == "done", m.received_at < cut]),
    ]


def _delete_batch(session: Session, model: Any, conditions: list[Any], limit: int) -> int:
    ids = list(session.scalars(select(model.id).where(*conditions).order_by(model.id).limit(limit)))
    if ids:
        session.execute(delete(model).where(model.id.in_(ids)).execution_options(synchronize_session=False))
    return len(ids)


def _consent_conditions(now: datetime) -> tuple[Any, list[Any]]:
    from mail.models import MailConsent, OutboxMail

    newer = MailConsent.__table__.alias("newer")
    cut = now - CONSENT_KEPT_AFTER
    return MailConsent, [
        exists().where(newer.c.address == MailConsent.address, newer.c.occurred_at > MailConsent.occurred_at,
                       newer.c.occurred_at < cut),
        ~exists().where(OutboxMail.to_address == MailConsent.address, OutboxMail.marketing.is_(True),
                        OutboxMail.status == "sent", OutboxMail.sent_at >= cut),
    ]


def _broadcast_addresses(session: Session, cut: datetime, limit: int) -> int:
    """Addresses of broadcasts planned before `cut` (only needed while a broadcast plans)."""
    from automations.models import BroadcastAddress, BroadcastRun

    run_id = session.scalar(select(BroadcastRun.id).where(BroadcastRun.status == "planned",
                                                          BroadcastRun.finished_at < cut)
                            .where(exists().where(BroadcastAddress.run_id == BroadcastRun.id))
                            .order_by(BroadcastRun.id).limit(1))
    if run_id is None:
        return 0
    addresses = list(session.scalars(select(BroadcastAddress.address).where(BroadcastAddress.run_id == run_id)
                                     .limit(limit)))
    session.execute(delete(BroadcastAddress).where(BroadcastAddress.run_id == run_id,
                                                   BroadcastAddress.address.in_(addresses))
                    .execution_options(synchronize_session=False))
    # A run finished below the batch size may be followed by another run: keep the loop going.
    return limit if addresses else 0


def purge(now: datetime | None = None, batch: int = RETENTION_BATCH,
          should_stop: Callable[[], bool] = lambda: False) -> dict[str, int] | None:
    """Delete everything past its retention, batch by batch; rows deleted per kind (None: stopped early)."""
    settings = settings_of()
    database = get_db()
    now = now or utcnow()
    deleted: dict[str, int] = {}
    work: list[tuple[str, Callable[[Session], int]]] = []
    for rule in _rules():
        days = rule.days(settings)
        if days > 0:
            model = rule.model()
            conditions = rule.where(model, now - timedelta(days=days))
            work.append((rule.name, partial(_delete_batch, model=model, conditions=conditions, limit=batch)))
    consent_model, consent_where = _consent_conditions(now)
    work.append(("mail_consents", lambda s: _delete_batch(s, consent_model, consent_where, batch)))
    if settings.retention_steps_days > 0:
        cut = now - timedelta(days=settings.retention_steps_days)
        work.append(("automation_broadcast_addresses", lambda s: _broadcast_addresses(s, cut, batch)))
    for name, step in work:
        while True:
            if should_stop():
                return None
            with database.transaction() as session:
                n = step(session)
            deleted[name] = deleted.get(name, 0) + n
            if n < batch:
                break
    log.info("retention: deleted %s", deleted)
    return deleted


def retention_job(_payload: dict[str, Any]) -> str | None:
    """Job `work.retention` (daily): purge, stopping between batches when asked (then queued again)."""
    from work.running import CONTINUE, should_stop

    return CONTINUE if purge(should_stop=should_stop) is None else None
