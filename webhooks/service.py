"""Store Outbound Message notifications once each (Salesforce retries and may send twice), within limits."""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config.settings import Settings, devorg_connection
from db import insert_for, utcnow
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


def allowed_source(settings: Settings, address: str | None) -> bool:
    """True when OUTBOUND_ALLOWED_NETWORKS is empty or holds the sender's address."""
    if not settings.outbound_allowed_networks:
        return True
    try:
        sender = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(sender in ipaddress.ip_network(net) for net in settings.outbound_allowed_networks)


def over_rate_limit(session: Session, settings: Settings, client: str) -> str | None:
    """Which limit storing more notifications now would break ('source' or 'global'), or None.

    Counts notifications stored within OUTBOUND_RATE_WINDOW_SECONDS: every stored one costs a
    Salesforce query share, so this bounds what strangers who know the org id can spend. A
    message is let in while the count is below the limit, so one message (≤ 100) may overshoot it.
    """
    since = utcnow() - timedelta(seconds=settings.outbound_rate_window_seconds)
    recent = select(func.count()).select_from(OutboundNotification).where(OutboundNotification.received_at >= since)
    if (session.scalar(recent.where(OutboundNotification.client_key == client)) or 0) >= \
            settings.outbound_rate_limit_per_ip:
        return "source"
    if (session.scalar(recent) or 0) >= settings.outbound_rate_limit_global:
        return "global"
    return None


def all_stored(session: Session, message: OutboundMessage) -> bool:
    """True when every notification of `message` is stored already (a retry of an acked message)."""
    ids = {n.notification_id for n in message.notifications}
    stmt = select(func.count()).select_from(OutboundNotification).where(OutboundNotification.notification_id.in_(ids))
    return (session.scalar(stmt) or 0) == len(ids)


def store(session: Session, message: OutboundMessage, client: str | None = None) -> int:
    """Queue every notification not stored before; returns how many were new."""
    now = utcnow()
    rows: list[dict[str, Any]] = [{
        "notification_id": n.notification_id, "organization_id": message.organization_id[:18],
        "action_id": message.action_id[:18], "object_name": n.object_name, "record_id": n.fields["Id"],
        "fields": n.fields, "raw": n.raw, "received_at": now, "client_key": client, "status": "queued",
        "due_at": now, "attempts": 0,
    } for n in message.notifications]
    stmt = (insert_for(session, OutboundNotification).on_conflict_do_nothing(index_elements=["notification_id"])
            .returning(OutboundNotification.id))
    return len(list(session.execute(stmt, rows).scalars()))
