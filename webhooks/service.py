"""Store Outbound Message notifications once each (Salesforce retries and may send twice)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from config.settings import Settings, devorg_connection
from db import utcnow
from webhooks.models import OutboundNotification
from webhooks.outbound import OutboundMessage


def expected_org_id(settings: Settings) -> str:
    """SALESFORCE_ORG_ID, else the running dev org's id (when no Salesforce is configured), else ''."""
    if settings.salesforce_org_id:
        return settings.salesforce_org_id
    if settings.salesforce_configured:
        return ""
    connection = devorg_connection(settings) or {}
    return str(connection.get("org_id") or connection.get("organization_id") or "")


def store(session: Session, message: OutboundMessage) -> int:
    """Queue every notification not stored before; returns how many were new."""
    now = utcnow()
    rows: list[dict[str, Any]] = [{
        "notification_id": n.notification_id, "organization_id": message.organization_id[:18],
        "action_id": message.action_id[:18], "object_name": n.object_name, "record_id": n.fields["Id"],
        "fields": n.fields, "raw": n.raw, "received_at": now, "status": "queued", "due_at": now,
        "attempts": 0,
    } for n in message.notifications]
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (insert(OutboundNotification).on_conflict_do_nothing(index_elements=["notification_id"])
            .returning(OutboundNotification.id))
    return len(list(session.execute(stmt, rows).scalars()))
