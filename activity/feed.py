"""How a consumer (scoring, automations) takes in the activity table and keeps its own progress.

Each consumer owns two things in its own package: a cursor row (`txid`, `last_id`: the last
activity it has taken in) and a queue table (`activity_id`, the primary key) of the activities
it has taken in but not handled yet. The activity table itself holds only what a person did.

- `take_in` moves the committed activities after the cursor into the queue and advances the
  cursor, as one INSERT … SELECT over a bounded range of the (txid, id) index: never through
  Python, so memory stays flat whatever the backlog.
- `claim` locks the oldest queued activities (`FOR UPDATE SKIP LOCKED`: several workers split
  the queue, a worker killed mid-batch rolls back and its rows are claimed again); the consumer
  removes what it has handled with `done` in the same transaction, so each activity is handled
  once. A row left in the queue (a person not yet known) is claimed again on a later pass.
- `requeue` puts activities the consumer has already handled back in its queue.

Why (txid, id) and not `id > last_id`: ids are handed out at insert, not at commit, so on
PostgreSQL a lower id can commit after a higher one was read. As for change events (sync.feed),
the cursor passes only transactions that have ended (`db.safe_txid`); newer ones wait for the
next take-in. On SQLite `txid` is 0 and its single writer commits ids in order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from sqlalchemy import ColumnElement, and_, delete, exists, func, insert, select, tuple_
from sqlalchemy.orm import Session

from activity.models import Activity
from db import Base, committed_after, insert_for, table_of

# Activities looked at per take-in: one range of the (txid, id) index.
TAKE_IN_SCAN = 5000


class Cursor(Protocol):
    """A consumer's cursor row: the (txid, id) of the last activity it has taken in."""

    txid: int
    last_id: int


def cursor_row(session: Session, model: type[Base], consumer: str, lock: str = "") -> Any:
    """The consumer's cursor row (created at (0, 0) the first time).

    `lock="wait"` locks the row for the transaction, waiting for another worker that holds it;
    `lock="skip"` returns None instead while another worker holds it (SKIP LOCKED: that worker
    is taking in, this one can still claim what is queued).
    """
    key = table_of(model).c.consumer
    session.execute(insert_for(session, model).values(consumer=consumer, txid=0, last_id=0)
                    .on_conflict_do_nothing())
    stmt = select(model).where(key == consumer)
    if lock:
        stmt = stmt.with_for_update(skip_locked=lock == "skip")
    return session.scalars(stmt).first()


def take_in(session: Session, cursor: Cursor, queue: type[Base], kinds: Sequence[str] = (),
            scan: int = TAKE_IN_SCAN) -> int:
    """Queue the committed activities after `cursor` (of `kinds`, or all), up to `scan` looked at;
    advance the cursor past them. Call with the cursor row locked; returns the count queued."""
    position = tuple_(Activity.txid, Activity.id)
    after = position > tuple_(cursor.txid, cursor.last_id)
    span = select(Activity.txid, Activity.id).where(
        *committed_after(session, Activity.txid, Activity.id, (cursor.txid, cursor.last_id)))
    bound = (session.execute(span.order_by(Activity.txid, Activity.id).offset(scan - 1).limit(1)).first()
             or session.execute(span.order_by(Activity.txid.desc(), Activity.id.desc()).limit(1)).first())
    if bound is None:
        return 0
    # Every transaction up to the bound's txid has ended, so the range holds no row still to come.
    wanted = select(Activity.id).where(after, position <= tuple_(bound.txid, bound.id))
    if kinds:
        wanted = wanted.where(Activity.kind.in_(kinds))
    # Counted from RETURNING (at most `scan` ids): the driver's rowcount of INSERT … SELECT is not
    # reliable everywhere.
    table = table_of(queue)
    queued = len(session.execute(insert(table).from_select(["activity_id"], wanted)
                                 .returning(table.c.activity_id)).all())
    cursor.txid, cursor.last_id = int(bound.txid), int(bound.id)
    return queued


def claim(session: Session, queue: type[Base], limit: int) -> list[Activity]:
    """Lock up to `limit` queued activities, oldest first, skipping those another worker holds."""
    queued = table_of(queue).c.activity_id
    return list(session.scalars(
        select(Activity).join(table_of(queue), queued == Activity.id).order_by(queued).limit(limit)
        .with_for_update(skip_locked=True)))


def done(session: Session, queue: type[Base], activity_ids: Iterable[int]) -> None:
    """Take handled activities out of the queue (in the transaction that handled them)."""
    queued = table_of(queue).c.activity_id
    session.execute(delete(table_of(queue)).where(queued.in_(list(activity_ids))))


def taken_in(cursor: Cursor) -> ColumnElement[bool]:
    """Activities at or before the cursor: those the consumer has taken in."""
    return tuple_(Activity.txid, Activity.id) <= tuple_(cursor.txid, cursor.last_id)


def handled(cursor: Cursor, queue: type[Base]) -> ColumnElement[bool]:
    """Activities the consumer has handled: taken in and no longer queued."""
    queued = table_of(queue).c.activity_id
    return and_(taken_in(cursor), ~exists().where(queued == Activity.id))


def requeue(session: Session, cursor: Cursor, queue: type[Base], activity_ids: Iterable[int]) -> None:
    """Put handled activities back in the consumer's queue.

    Only those already taken in: the others will be taken in anyway (and queueing them now would
    queue them twice). Lock the activities first (an UPDATE of them), so a worker that holds one
    finishes before it is queued again.
    """
    ids = list(activity_ids)
    if not ids:
        return
    again = select(Activity.id).where(Activity.id.in_(ids), taken_in(cursor))
    session.execute(insert_for(session, queue).from_select(["activity_id"], again).on_conflict_do_nothing())


def pending(session: Session, cursor: Cursor, queue: type[Base]) -> int:
    """Activities the consumer has still to handle: queued, or not yet taken in."""
    queued = session.scalar(select(func.count()).select_from(table_of(queue))) or 0
    later = session.scalar(select(func.count()).select_from(Activity)
                          .where(tuple_(Activity.txid, Activity.id) > tuple_(cursor.txid, cursor.last_id))) or 0
    return int(queued) + int(later)
