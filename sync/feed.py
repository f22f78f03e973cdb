"""Gap-safe reading of change events for consumers that keep their own cursor.

Why not `id > last_id`: ids come from a sequence when a row is inserted, not when it commits.
On PostgreSQL the sync, the webhook job and write-back insert events in different processes, so
transaction A can take id N, transaction B take N+1 and commit first; a reader then sees N+1,
moves its cursor past it, and N — committed a moment later — is never read.

The rule (docs/architecture.md, "Change events"): a cursor orders events by (txid, id), where
`txid` is the inserting transaction's id, and passes only transactions older than the oldest one
still running (`pg_snapshot_xmin(pg_current_snapshot())`). Such a transaction has ended,
so every event it committed is visible and no event can still appear behind the cursor. Events
of newer transactions wait for the next read. On SQLite `txid` is 0: its single writer holds the
write lock from the first insert to the commit, so ids commit in order and `id` alone is safe.

Consumers that claim rows instead (automations: `processed_at IS NULL … FOR UPDATE SKIP LOCKED`;
activity: `scored_at` / `automations_at IS NULL`) are gap-safe by construction and need none of this.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text, tuple_
from sqlalchemy.orm import Session

from sync.models import ChangeEvent

# The oldest transaction still running (the reader's own included) and the reader's own, if any.
_HORIZON = text("SELECT CAST(CAST(pg_snapshot_xmin(pg_current_snapshot()) AS text) AS bigint), "
                "CAST(CAST(pg_current_xact_id_if_assigned() AS text) AS bigint)")


@dataclass(frozen=True)
class EventCursor:
    """Where a consumer stands: the (txid, id) of the last change event it handled."""

    txid: int = 0
    id: int = 0

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> EventCursor:
        """Read a cursor kept as JSON; `{"last_id": n}` (before txid existed) reads as (0, n)."""
        return cls(int(document.get("last_txid", 0)), int(document.get("last_id", 0)))

    def as_document(self) -> dict[str, int]:
        """The cursor as JSON to keep."""
        return {"last_txid": self.txid, "last_id": self.id}


def committed_after(session: Session, cursor: EventCursor, limit: int) -> list[ChangeEvent]:
    """Up to `limit` change events after `cursor`, in (txid, id) order, none of which a later
    commit can precede. Set-based: one range of the (txid, id) index."""
    stmt = (select(ChangeEvent)
            .where(tuple_(ChangeEvent.txid, ChangeEvent.id) > tuple_(cursor.txid, cursor.id))
            .order_by(ChangeEvent.txid, ChangeEvent.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.where(ChangeEvent.txid <= safe_txid(session))
    return list(session.scalars(stmt))


def safe_txid(session: Session) -> int:
    """The highest txid whose events may be read now (PostgreSQL).

    Every transaction below the snapshot's xmin has ended: its committed events are all visible,
    in this statement and in every later one (so taking the bound first, then reading, is safe).
    The reader's own events are visible to it too, and may be read when its own transaction is
    that xmin, i.e. no older one is still running.
    """
    oldest_running, own = session.execute(_HORIZON).one()
    return int(oldest_running) if own is not None and int(own) == int(oldest_running) else int(oldest_running) - 1


def cursor_of(event: ChangeEvent) -> EventCursor:
    """The cursor that stands on `event`."""
    return EventCursor(event.txid, event.id)
