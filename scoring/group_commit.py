"""Group commit for the tracking pixel: the page views of concurrent hits stored by one INSERT.

A customer's site sends one pixel hit per page view, so at thousands of hits a second one INSERT
and one commit each is most of the work (on PostgreSQL a commit is a WAL flush, and SQLAlchemy's
checkout, ping and reset on return cost four more round trips). Here every hit still waits until
*its own* row is committed before it is answered, so a page view we answer 200 is stored; but
hits that arrive while an INSERT is in flight queue up, and the next INSERT takes them all.
Under light load a batch is one row and nothing waits longer than before; under heavy load the
batches grow by themselves and each row costs a fraction of a commit.

On PostgreSQL the batch is one prepared multi-row INSERT on a connection of its own, in
autocommit: one round trip and one commit per batch, no pool checkout, ping or reset. On SQLite
(one writer, embedded use) it is an executemany in one transaction.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert

from activity.models import Activity

if TYPE_CHECKING:
    from db import Database

log = logging.getLogger(__name__)

PG_INSERT = "INSERT INTO activities (kind, visitor_id, occurred_at, details) VALUES "
PG_ROW = "('page_view', %s, %s, %s::jsonb)"
# A connection unused this long is pinged before a batch: the server may have restarted meanwhile,
# and an INSERT that fails on a dead connection cannot be retried safely (it may have committed).
# Under load the connection is never idle this long, so the ping costs nothing there.
PING_AFTER_IDLE_S = 1.0
# A batch INSERT that takes longer fails (its hits answer 503) instead of holding every waiter.
STATEMENT_TIMEOUT = "10s"


class PageViewNotStored(Exception):
    """The batch holding this page view failed; nothing of it was committed."""


@dataclass(eq=False)
class _Pending:
    row: dict[str, Any]
    done: bool = False
    failed: bool = False


class PageViewWriter:
    """Stores `page_view` rows for concurrent callers, batching those that wait at the same time.

    `store(row)` returns once the row is committed, or raises PageViewNotStored. Safe to call from
    any number of threads (or gevent greenlets): one of them at a time writes, for all waiting.
    """

    def __init__(self, database: Database, max_batch: int = 64) -> None:
        self.database = database
        self.max_batch = max_batch
        self._waiting: deque[_Pending] = deque()
        self._flush_lock = threading.Lock()
        self._connection: Any = None  # PostgreSQL only: a psycopg connection owned by this writer
        self._connection_pid = 0
        self._last_used = 0.0

    def store(self, row: dict[str, Any]) -> None:
        """Commit one page-view row (values as `tracking.page_view_row` gives them)."""
        pending = _Pending(row)
        self._waiting.append(pending)
        with self._flush_lock:
            # Whoever held the lock before us may have written our row with theirs.
            while not pending.done:
                self._flush()
        if pending.failed:
            raise PageViewNotStored("the page view could not be stored")

    def close(self) -> None:
        """Close this writer's own database connection (it reopens on the next store)."""
        with self._flush_lock:
            self._drop_connection()

    def _flush(self) -> None:
        batch: list[_Pending] = []
        while self._waiting and len(batch) < self.max_batch:
            batch.append(self._waiting.popleft())
        try:
            self._insert([pending.row for pending in batch])
        except Exception:
            log.exception("tracking: %d page views could not be stored", len(batch))
            for pending in batch:
                pending.failed = True
        finally:
            for pending in batch:
                pending.done = True

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        if self.database.is_sqlite:
            with self.database.engine.begin() as conn:
                conn.execute(insert(Activity), rows)
            return
        conn = self._postgres()
        params: list[Any] = []
        for row in rows:
            params += (row["visitor_id"], row["occurred_at"], json.dumps(row["details"], ensure_ascii=False))
        try:
            # One multi-row statement, prepared once per batch size (at most max_batch of them on
            # this connection): measured cheaper than COPY (two round trips) or unnest (array
            # encoding) for the small batches concurrent hits make.
            conn.execute(PG_INSERT + ", ".join([PG_ROW] * len(rows)), params, prepare=True)
        except Exception:
            if conn.broken or conn.closed:
                self._drop_connection()
            raise
        self._last_used = time.monotonic()

    def _postgres(self) -> Any:
        """This writer's psycopg connection in autocommit: opened on first use, after a fork or a
        failure, and pinged when it has sat idle (a restarted server is found before the INSERT)."""
        if self._connection is not None and self._connection_pid != os.getpid():
            self._connection = None  # the parent's socket: never close it from a child
        if self._connection is not None and time.monotonic() - self._last_used > PING_AFTER_IDLE_S:
            try:
                self._connection.execute("SELECT 1")
            except Exception:
                self._drop_connection()
        if self._connection is None:
            pooled = self.database.engine.raw_connection()
            connection = pooled.driver_connection
            assert connection is not None  # a live pooled connection always has its driver's
            pooled.detach()  # ours for good: never handed to another caller, never reset by the pool
            connection.autocommit = True
            connection.execute(f"SET statement_timeout = '{STATEMENT_TIMEOUT}'")
            self._connection, self._connection_pid = connection, os.getpid()
        self._last_used = time.monotonic()
        return self._connection

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and self._connection_pid == os.getpid():
            try:
                connection.close()
            except Exception:  # already broken: nothing more to release
                log.debug("tracking: closing a broken connection failed", exc_info=True)
