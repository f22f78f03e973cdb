"""Named statements of the write-back queue."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from writeback.models import WritebackItem


def status_counts() -> Any:
    """(status, count) for every status that has items."""
    return select(WritebackItem.status, func.count()).group_by(WritebackItem.status)


def failed_items(search: str = "", limit: int = 200, before: int | None = None) -> Any:
    """Items in the admin error queue, newest first, optionally filtered by object, code, message or key.

    `before` pages on: only items with a smaller id (keyset paging, no OFFSET over a long queue).
    """
    stmt = select(WritebackItem).where(WritebackItem.status == "failed")
    if before is not None:
        stmt = stmt.where(WritebackItem.id < before)
    if search:
        pattern = f"%{search.lower()}%"
        stmt = stmt.where(
            func.lower(WritebackItem.object_name).like(pattern)
            | func.lower(WritebackItem.error_code).like(pattern)
            | func.lower(WritebackItem.error_message).like(pattern)
            | func.lower(WritebackItem.idempotency_key).like(pattern)
            | func.lower(WritebackItem.origin_ref).like(pattern)
        )
    return stmt.order_by(WritebackItem.id.desc()).limit(limit)


def waiting_on(item_id: int) -> Any:
    """Items that are written only after `item_id` and have not been written yet."""
    return select(WritebackItem).where(WritebackItem.depends_on_id == item_id,
                                       WritebackItem.status.in_(("queued", "running")))


def oldest_pending_created_at() -> Any:
    """When the oldest item still waiting to be written was accepted (for /healthz)."""
    return select(func.min(WritebackItem.created_at)).where(WritebackItem.status.in_(("queued", "running")))
