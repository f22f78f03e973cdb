"""Apply stored Outbound Message notifications to the mirror (work source `webhooks.outbound`).

The fields a notification carries are applied at once (typed by the object's cached describe),
so their change events exist within the worker's polling interval. When a notification carries
only some fields, the full records are fetched in ONE query per object (`Id IN (...)`) and
applied too; if that fetch fails, the carried fields stay applied and the fetch is retried.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import update

from db import get_db, utcnow
from sync import describe
from sync.mirror import apply_records
from sync.usage import counter_for
from sync.values import rest_value
from webhooks.models import OutboundNotification
from work.claiming import claim_due, retry_delay_seconds

log = logging.getLogger(__name__)

BATCH = 100
LEASE_SECONDS = 120


def _typed(fields: dict[str, Any], types: dict[str, str]) -> dict[str, Any]:
    return {name: rest_value(types.get(name, "string"), value) for name, value in fields.items()}


def apply_outbound(app: Flask, worker_id: str) -> int:
    """Claim due notifications, apply them to the mirror; returns how many were processed."""
    database = get_db(app)
    with database.transaction() as session:
        claimed = claim_due(session, OutboundNotification, worker_id, BATCH, LEASE_SECONDS)
        work = [(n.id, n.object_name, n.record_id, dict(n.fields), n.attempts) for n in claimed]
    if not work:
        return 0
    by_object: dict[str, list[tuple[int, str, dict[str, Any], int]]] = defaultdict(list)
    for row_id, object_name, record_id, fields, attempts in work:
        by_object[object_name].append((row_id, record_id, fields, attempts))
    for object_name, items in by_object.items():
        _apply_object(app, object_name, items)
    return len(work)


def _apply_object(app: Flask, object_name: str, items: list[tuple[int, str, dict[str, Any], int]]) -> None:
    database = get_db(app)
    with database.transaction() as session:
        types = dict(describe.state(session, object_name).field_types or {})
        incomplete = []
        if types:
            # Only fields the mirror knows how to type are applied now; the rest wait for the fetch.
            apply_records(session, object_name, [_typed(f, types) for _, _, f, _ in items], "outbound")
        for _row_id, record_id, fields, _ in items:
            if not types or set(types) - set(fields):
                incomplete.append(record_id)
        complete_ids = [row_id for row_id, record_id, _, _ in items if record_id not in incomplete]
        _finish(session, complete_ids)
    if not incomplete:
        return
    pending = [(row_id, attempts) for row_id, record_id, _, attempts in items if record_id in incomplete]
    try:
        _fetch_and_apply(app, object_name, incomplete)
    except Exception as exc:  # any failure: keep the rows and retry; the carried fields are applied
        log.warning("outbound %s: fetching %d records failed: %s", object_name, len(incomplete), exc)
        with database.transaction() as session:
            for row_id, attempts in pending:
                session.execute(update(OutboundNotification).where(OutboundNotification.id == row_id).values(
                    status="queued", locked_by=None, locked_until=None,
                    last_error=f"{type(exc).__name__}: {exc}"[:2000],
                    due_at=utcnow() + timedelta(seconds=retry_delay_seconds(attempts))))
        return
    with database.transaction() as session:
        _finish(session, [row_id for row_id, _ in pending])


def _fetch_and_apply(app: Flask, object_name: str, record_ids: list[str]) -> None:
    """One query for the full records of `record_ids` (deleted ones too), applied as 'outbound'."""
    from salesforce import gateway_for

    gateway = gateway_for(app)
    counter = counter_for(app, gateway)
    database = get_db(app)
    with database.transaction() as session:
        row = describe.state(session, object_name)
        needs = describe.needs_describe(row)
    if needs:
        with database.transaction() as session:
            errors = describe.refresh(session, gateway, [object_name])
        if errors:
            raise RuntimeError(errors[object_name])
    with database.transaction() as session:
        types = dict(describe.state(session, object_name).field_types)
    fields = describe.select_list(object_name, types)
    ids = sorted(set(record_ids))
    soql = f"SELECT {', '.join(fields)} FROM {object_name}" + gateway.soql(" WHERE Id IN {ids}", ids=ids)
    records = list(gateway.query_all(soql))
    with database.transaction() as session:
        apply_records(session, object_name, records, "outbound")
        counter.flush(session)


def _finish(session: Any, row_ids: list[int]) -> None:
    if row_ids:
        session.execute(update(OutboundNotification).where(OutboundNotification.id.in_(row_ids)).values(
            status="done", applied_at=utcnow(), locked_by=None, locked_until=None, last_error=None))
