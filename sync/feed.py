"""Gap-safe reading of change events for consumers that keep their own cursor.

Why not `id > last_id`: ids come from a sequence when a row is inserted, not when it commits.
On PostgreSQL the sync, the webhook job and write-back insert events in different processes, so
transaction A can take id N, transaction B take N+1 and commit first; a reader then sees N+1,
moves its cursor past it, and N — committed a moment later — is never read.

The rule (docs/architecture.md, "Change events"): a cursor orders events by (txid, id), where
`txid` is the inserting transaction's id, and passes only transactions older than the oldest one
of this database still running (`safe_txid`: the snapshot's in-progress list, less the xids
pg_stat_activity places in other databases of the same server). Such a transaction has ended,
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

# One consistent snapshot: its xmax, its in-progress top-level xids, and the reader's own xid.
_SNAPSHOT = text(
    "SELECT CAST(CAST(pg_snapshot_xmax(s) AS text) AS bigint), "
    "ARRAY(SELECT CAST(CAST(x AS text) AS bigint) FROM pg_snapshot_xip(s) AS x), "
    "CAST(CAST(pg_current_xact_id_if_assigned() AS text) AS bigint), "
    "(SELECT oid FROM pg_database WHERE datname = current_database()) "
    "FROM (SELECT pg_current_snapshot() AS s) AS snap")
# Which database each transaction with an xid works in (32-bit xids), read fresh: the first read
# of pg_stat_activity in a transaction is otherwise cached until it ends.
_CLEAR_STATS = text("SELECT pg_stat_clear_snapshot()")
_BACKENDS = text("SELECT datid, CAST(CAST(backend_xid AS text) AS bigint), query = '<insufficient privilege>' "
                 "FROM pg_stat_activity WHERE datid IS NOT NULL")


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

    From one snapshot: a transaction below its xmax and not in its in-progress list has ended, so
    all its committed events are visible, to this statement and every later one (taking the bound
    first and reading after is safe). The oldest transaction still in progress bounds the read —
    unless pg_stat_activity shows it works in another database: xids are counted across the
    server, and another database's long transaction cannot insert our events. (A transaction is
    only ever excluded on that positive evidence; one we cannot place holds the bound back.)
    The reader's own events are visible to it: they may be read when no transaction of this
    database older than the reader's own is still running.
    """
    xmax, in_progress, own, database = session.execute(_SNAPSHOT).one()
    session.execute(_CLEAR_STATS)
    other_db: set[int] = set()
    ours: set[int] = set()
    complete = True
    for datid, xid, hidden in session.execute(_BACKENDS):
        if hidden:
            complete = complete and datid != database
        elif xid is not None:
            (ours if datid == database else other_db).add(_widen(int(xid), int(xmax)))
    running = [int(x) for x in in_progress if int(x) not in other_db]
    horizon = min([*running, int(xmax)])
    if own is not None and complete and not any(x < own for x in running) \
            and not any(int(xmax) <= x < own for x in ours - {own}):
        # Every transaction of this database below our own has ended (those at or above xmax are
        # not in the snapshot's list, so pg_stat_activity, read after our xid was assigned, says).
        return max(horizon - 1, int(own))
    return horizon - 1


def _widen(xid: int, near: int) -> int:
    """A 32-bit xid as the 64-bit one (epoch included) closest to `near`."""
    candidate = (near & ~0xFFFFFFFF) | xid
    if candidate > near + 2**31:
        candidate -= 2**32
    elif candidate < near - 2**31:
        candidate += 2**32
    return candidate


def cursor_of(event: ChangeEvent) -> EventCursor:
    """The cursor that stands on `event`."""
    return EventCursor(event.txid, event.id)
