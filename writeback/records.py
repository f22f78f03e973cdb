"""Recording what Salesforce did with each item, and showing our own writes in the mirror at once."""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import Database, utcnow
from sync.mirror import apply_records
from writeback.models import WritebackItem, WriteOutcome

log = logging.getLogger(__name__)


def show_in_mirror(session: Session, records_by_object: dict[str, list[dict[str, Any]]]) -> None:
    """Put records we just wrote into the mirror, marked as our own write (source "writeback").

    In a savepoint: a mirror problem must never undo the record of a write Salesforce has made;
    the next sync poll brings the record in anyway.
    """
    for object_name, records in records_by_object.items():
        try:
            with session.begin_nested():
                apply_records(session, object_name, records, source="writeback")
        except Exception:
            log.exception("could not show %d written %s records in the mirror", len(records), object_name)


def apply_outcomes(database: Database, worker_id: str, outcomes: dict[int, WriteOutcome],
                   objects: dict[int, str]) -> None:
    """Store every outcome in one transaction, for items this worker still holds."""
    if not outcomes:
        return
    now = utcnow()
    mirror: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with database.transaction() as session:
        items = session.scalars(select(WritebackItem).where(WritebackItem.id.in_(list(outcomes)))
                                .with_for_update()).all()
        for item in items:
            if item.status != "running" or item.locked_by != worker_id:
                # Our lease expired and another worker took the item: its outcome is the one that counts.
                log.warning("write-back item %s was taken over by %s; not recording our result", item.id,
                            item.locked_by)
                continue
            outcome = outcomes[item.id]
            item.status = outcome.status
            item.locked_by = None
            item.locked_until = None
            if outcome.uncertain is False:
                item.uncertain_since = None
            elif outcome.uncertain is True and item.uncertain_since is None:
                item.uncertain_since = now
            if outcome.status == "written":
                item.result_id = outcome.result_id
                item.written_at = now
                item.error_code = item.error_message = item.last_error = None
                if outcome.mirror is not None and outcome.mirror.get("Id"):
                    mirror[objects.get(item.id, item.object_name)].append(outcome.mirror)
            elif outcome.status == "failed":
                item.error_code = outcome.error_code
                item.error_message = outcome.error_message
                item.last_error = f"{outcome.error_code}: {outcome.error_message}"
            else:
                item.due_at = outcome.due_at or now
                item.last_error = f"{outcome.error_code}: {outcome.error_message}"[:4000]
        if mirror:
            show_in_mirror(session, dict(mirror))
