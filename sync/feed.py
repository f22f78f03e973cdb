"""Gap-safe reading of change events for consumers that keep their own cursor.

Why not `id > last_id`: ids come from a sequence when a row is inserted, not when it commits.
On PostgreSQL the sync, the webhook job and write-back insert events in different processes, so
transaction A can take id N, transaction B take N+1 and commit first; a reader then sees N+1,
moves its cursor past it, and N — committed a moment later — is never read.

The rule (docs/architecture.md, "Change events"): a cursor orders events by (txid, id), where
`txid` is the inserting transaction's id, and passes only transactions older than the oldest one
of this database still running (`db.safe_txid`: the snapshot's in-progress list, less the xids
pg_stat_activity places in other databases of the same server). Such a transaction has ended,
so every event it committed is visible and no event can still appear behind the cursor. Events
of newer transactions wait for the next read. On SQLite `txid` is 0: its single writer holds the
write lock from the first insert to the commit, so ids commit in order and `id` alone is safe.

Consumers that claim rows instead (automations: `processed_at IS NULL … FOR UPDATE SKIP LOCKED`)
are gap-safe by construction and need none of this. The activity table is read the same way,
by `activity.feed`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

import db
from sync.models import ChangeEvent


@dataclass(frozen=True)
class EventCursor:
    """Where a consumer stands: the (txid, id) of the last change event it handled."""

    txid: int = 0
    id: int = 0


def committed_after(session: Session, cursor: EventCursor, limit: int) -> list[ChangeEvent]:
    """Up to `limit` change events after `cursor`, in (txid, id) order, none of which a later
    commit can precede. Set-based: one range of the (txid, id) index."""
    return list(session.scalars(
        select(ChangeEvent).where(*db.committed_after(session, ChangeEvent.txid, ChangeEvent.id,
                                                      (cursor.txid, cursor.id)))
        .order_by(ChangeEvent.txid, ChangeEvent.id).limit(limit)))

