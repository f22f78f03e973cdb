"""Apply stored Outbound Message notifications to the mirror (work source `webhooks.outbound`).

A notification is a hint that records changed, never the truth: there is no signature, and the
org id it carries is no secret (it is in every Web-to-Lead form), so anyone can POST one. Nothing
a notification carries is applied. For each object of a claimed batch the worker asks Salesforce
for the notified ids in one query (`SELECT <every field> FROM X WHERE Id IN (…)` over queryAll, split
only if its URL would pass Salesforce's 16,384-byte limit, so
a record in the recycle bin reads as deleted) and applies exactly what Salesforce returns, with
Salesforce's own SystemModstamp. An id Salesforce does not return changes nothing and fires
nothing.

Without a call, a notification is `ignored` when it claims a SystemModstamp in the future (more
than FUTURE_TOLERANCE ahead of this host's clock: no real change is stamped there) or names an
object the mirror does not sync. A failed fetch is retried with back-off; after
OUTBOUND_MAX_ATTEMPTS tries the notification is `failed` and listed for admins at /admin/webhooks
(the poll cycle still brings the change).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import update

from config import settings_of
from db import get_db, utcnow
from salesforce import describe as describes
from salesforce import gateway_for
from salesforce.calls import counter_for
from sync import describe
from sync.mirror import IMPLAUSIBLY_AHEAD, apply_records
from sync.values import parse_datetime
from webhooks.models import OutboundNotification
from work.claiming import claim_due, retry_delay_seconds

log = logging.getLogger(__name__)

BATCH = 100
LEASE_SECONDS = 120
# The org's clock is not ours (minutes, sometimes hours apart); a day ahead is no clock skew.
FUTURE_TOLERANCE = IMPLAUSIBLY_AHEAD


@dataclass(frozen=True)
class _Claimed:
    row_id: int
    object_name: str
    record_id: str
    fields: dict[str, Any]
    attempts: int


def apply_outbound(app: Flask, worker_id: str) -> int:
    """Claim due notifications, fetch their records from Salesforce and apply them; returns how many."""
    database = get_db(app)
    with database.transaction() as session:
        claimed = [_Claimed(n.id, n.object_name, n.record_id, dict(n.fields), n.attempts)
                   for n in claim_due(session, OutboundNotification, worker_id, BATCH, LEASE_SECONDS)]
    if not claimed:
        return 0
    settings = settings_of(app)
    now = utcnow()
    by_object: dict[str, list[_Claimed]] = defaultdict(list)
    for item in claimed:
        reason = _reason_to_ignore(item, settings.sync_objects, now)
        if reason:
            log.warning("outbound notification %s for %s %s ignored: %s", item.row_id, item.object_name,
                        item.record_id, reason)
            with database.transaction() as session:
                _finish(session, [item.row_id], "ignored", reason)
            continue
        by_object[item.object_name].append(item)
    for object_name, items in by_object.items():
        _apply_object(app, object_name, items, settings.outbound_max_attempts)
    return len(claimed)


def _reason_to_ignore(item: _Claimed, synced: tuple[str, ...], now: datetime) -> str | None:
    """Why a notification is not worth a Salesforce call, or None."""
    if item.object_name not in synced:
        return f"{item.object_name} is not in SYNC_OBJECTS"
    if case_safe_id(item.record_id) is None:
        return "not a valid Salesforce Id (checksum)"
    try:
        stamp = parse_datetime(item.fields.get("SystemModstamp"))
    except (TypeError, ValueError):
        return "SystemModstamp is not a date and time"
    if stamp is not None and stamp > now + FUTURE_TOLERANCE:
        return f"SystemModstamp {stamp.isoformat()} is in the future"
    return None


def _apply_object(app: Flask, object_name: str, items: list[_Claimed], max_attempts: int) -> None:
    database = get_db(app)
    try:
        found = _fetch_and_apply(app, object_name, [i.record_id for i in items])
    except Exception as exc:  # any failure: try again later, up to max_attempts tries
        error = f"{type(exc).__name__}: {exc}"[:2000]
        log.warning("outbound %s: fetching %d records failed: %s", object_name, len(items), error)
        with database.transaction() as session:
            for item in items:
                if item.attempts >= max_attempts:
                    _finish(session, [item.row_id], "failed", error)
                    continue
                session.execute(update(OutboundNotification).where(OutboundNotification.id == item.row_id).values(
                    status="queued", locked_by=None, locked_until=None, last_error=error,
                    due_at=utcnow() + timedelta(seconds=retry_delay_seconds(item.attempts))))
        return
    missing = [i.row_id for i in items if case_safe_id(i.record_id) not in found]
    with database.transaction() as session:
        _finish(session, [i.row_id for i in items if i.row_id not in missing], "done")
        _finish(session, missing, "ignored", "Salesforce has no record with this Id")


_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def case_safe_id(record_id: str) -> str | None:
    """The 18-character form of a 15- or 18-character Salesforce id, or None when it is malformed.

    The last three characters of an 18-character id encode which letters of each 5-character
    chunk are upper-case. Salesforce refuses a whole query naming one id whose checksum is wrong
    (INVALID_QUERY_FILTER_OPERATOR, "invalid ID field"), so a forged id must never reach it.
    """
    if len(record_id) not in (15, 18) or not record_id.isascii() or not record_id.isalnum():
        return None
    body = record_id[:15]
    suffix = "".join(_SUFFIX[sum(1 << i for i, c in enumerate(body[k:k + 5]) if "A" <= c <= "Z")]
                     for k in (0, 5, 10))
    if len(record_id) == 18 and record_id[15:].upper() != suffix:
        return None
    return body + suffix


def _fetch_and_apply(app: Flask, object_name: str, record_ids: list[str]) -> set[str]:
    """One query for the records of `record_ids` (deleted ones too), applied as 'outbound'.

    Returns the (18-character) ids Salesforce returned.
    """
    gateway = gateway_for(app)
    counter = counter_for(app, gateway)
    database = get_db(app)
    with database.transaction() as session:
        needs = bool(describes.stale(session, [object_name]))
    if needs:
        with database.transaction() as session:
            errors = describes.refresh(session, gateway, [object_name])
        if errors:
            raise RuntimeError(errors[object_name])
    with database.transaction() as session:
        types = describe.field_types(session, [object_name])[object_name]
    fields = describe.select_list(object_name, types)
    ids = sorted({safe for i in record_ids if (safe := case_safe_id(i))})
    if not ids:
        return set()
    # One query, or a few when the ids would make its GET URL too long for Salesforce.
    records = list(gateway.query_ids(f"SELECT {', '.join(fields)} FROM {object_name}", ids, include_deleted=True))
    with database.transaction() as session:
        apply_records(session, object_name, records, "outbound")
        counter.flush(session)
    return {found for r in records if (found := case_safe_id(str(r.get("Id") or ""))) is not None}


def _finish(session: Any, row_ids: list[int], status: str, note: str | None = None) -> None:
    if row_ids:
        session.execute(update(OutboundNotification).where(OutboundNotification.id.in_(row_ids)).values(
            status=status, applied_at=utcnow() if status == "done" else None, locked_by=None, locked_until=None,
            last_error=note))
