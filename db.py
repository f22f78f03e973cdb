"""The database: declarative base, engine set-up for SQLite and PostgreSQL, and sessions.

Request code uses `db.session()` (one session per app context, closed on teardown); jobs and
workers use `with db.transaction() as session:` (commit on success, rollback on error).
Tables are registered by their owners, never imported from here (db sits below every package):
each package's `init_app` imports its models module and names it with `register_models(app, …)`;
`migrations.schema` imports every models module by name for Alembic, the tests and the bench.
"""

from __future__ import annotations

import itertools
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import ModuleType
from typing import Any, cast

from flask import Flask, current_app, g
from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    DateTime,
    Integer,
    MetaData,
    Table,
    create_engine,
    event,
    text,
    tuple_,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import CursorResult, Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC that always comes back timezone-aware, on SQLite too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONDocument = JSON().with_variant(JSONB(), "postgresql")
# 64-bit ids on PostgreSQL; on SQLite only INTEGER PRIMARY KEY is an auto-incrementing rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base of every tsunagi table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONDocument, list[Any]: JSONDocument}  # noqa: RUF012


def utcnow() -> datetime:
    """Now, timezone-aware in UTC (the only clock database code should use)."""
    return datetime.now(UTC)


def insert_for(session: Session | str, table: Any) -> Any:
    """`INSERT INTO table` in the dialect of `session` (or of a dialect name): PostgreSQL's or
    SQLite's, both with `on_conflict_do_nothing` / `on_conflict_do_update` and `excluded`."""
    dialect = session if isinstance(session, str) else session.get_bind().dialect.name
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(table)


def table_of(model: type[Base]) -> Table:
    """The Table of a mapped class, for Core statements (bulk INSERT, UPDATE with bind parameters).
    (`__table__` is typed as any FromClause; a class declared on Base always maps one Table.)"""
    table = model.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to a single table")
    return table


def rows_matched(session: Session, statement: Any, params: Any = None) -> int:
    """Run a statement (an UPDATE, a DELETE, an executemany INSERT with `params`) in `session`; how
    many rows it matched or wrote (the cursor's rowcount). (`Session.execute` is typed as returning
    a plain Result, which has no rowcount.)"""
    return cast("CursorResult[Any]", session.execute(statement, params)).rowcount


def register_models(app: Flask, module: ModuleType) -> None:
    """Name `module` (a package's models, imported by the caller: that puts its tables on
    `Base.metadata`) as part of `app`'s schema. Called from each package's `init_app`."""
    names: list[str] = app.extensions.setdefault("tsunagi.models", [])
    if module.__name__ not in names:  # init_app may run twice on one app (tests)
        names.append(module.__name__)


def registered_models(app: Flask) -> list[str]:
    """The models modules `app`'s packages registered, in start-up order."""
    return list(app.extensions.get("tsunagi.models", []))


# Gap-safe cursors (sync.feed, activity.feed) on PostgreSQL.
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
# Prepared (two-phase) transactions of this database: in progress, yet no backend shows them.
_PREPARED = text("SELECT CAST(CAST(transaction AS text) AS bigint) FROM pg_prepared_xacts "
                 "WHERE database = current_database()")


def committed_after(session: Session, txid: Any, row_id: Any, cursor: tuple[int, int]) -> list[ColumnElement[bool]]:
    """WHERE conditions for the rows of a (txid, id) feed after `cursor`, (txid, id), that no
    later commit can precede: on PostgreSQL only transactions `safe_txid` says have ended."""
    conditions: list[ColumnElement[bool]] = [tuple_(txid, row_id) > tuple_(*cursor)]
    if session.get_bind().dialect.name == "postgresql":
        conditions.append(txid <= safe_txid(session))
    return conditions


def safe_txid(session: Session) -> int:
    """The highest txid whose events may be read now (PostgreSQL).

    From one snapshot: a transaction below its xmax and not in its in-progress list has ended, so
    all its committed events are visible, to this statement and every later one (taking the bound
    first and reading after is safe). The oldest transaction still in progress bounds the read —
    unless pg_stat_activity, read after the snapshot, shows it works in another database (xids
    are counted across the server, and another database's long transaction cannot insert our
    events) or no longer shows it at all: it has ended since the snapshot, and what it committed
    is visible to every later statement. (When some backend of this database is hidden from us,
    only that positive evidence of another database excludes one; one we cannot place holds the
    bound back.)
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
    if complete:  # every transaction of this database with an xid is in `ours` (or prepared)
        prepared = {_widen(int(x), int(xmax)) for x in session.scalars(_PREPARED)}
        running = [int(x) for x in in_progress if int(x) in ours or int(x) in prepared]
    else:
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


# How often a new SQLite connection tries to switch to WAL while another holds the database.
_WAL_ATTEMPTS = 40


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # busy_timeout makes writers queue instead of failing with "database is locked" when web and
    # worker write at once; set first, so that it covers the journal-mode switch below too.
    cursor.execute("PRAGMA busy_timeout=15000")
    # WAL lets readers work while the single writer commits. Processes opening the database at the
    # same moment (two clocks, a worker starting with the web) may find it locked by each other's
    # switch, which SQLite can answer at once rather than through the busy timeout: try again.
    for attempt in itertools.count(1):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt >= _WAL_ATTEMPTS:
                raise
            time.sleep(0.05 * attempt)
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin_immediate(conn: Any) -> None:
    # Take the write lock at BEGIN so a read-then-write transaction cannot deadlock-upgrade.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_db_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with tsunagi's connection settings for SQLite or PostgreSQL."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)

        @event.listens_for(engine, "connect")
        def _no_pysqlite_transactions(dbapi_connection: Any, _record: Any) -> None:
            # pysqlite's own BEGIN handling is disabled so that ours (IMMEDIATE) is used.
            dbapi_connection.isolation_level = None

        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    # No JIT: tsunagi's queries are short, and PostgreSQL's JIT compiles any query the planner
    # thinks costly (a report over a million mails) for seconds before running it in milliseconds.
    connect_args = kwargs.pop("connect_args", {})
    connect_args.setdefault("options", "-c jit=off")
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)


class Database:
    """The engine and session factory of one app."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_db_engine(url)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        self._dispose_hooks: list[Callable[[], None]] = []

    @property
    def is_sqlite(self) -> bool:
        """True on SQLite, where SKIP LOCKED does not exist and there is one writer."""
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session that commits when the block ends normally and rolls back otherwise."""
        with self.sessionmaker() as session, session.begin():
            yield session

    def on_dispose(self, hook: Callable[[], None]) -> None:
        """Call `hook` at `dispose()`: for connections a component holds outside the pool."""
        self._dispose_hooks.append(hook)

    def dispose(self) -> None:
        """Close every pooled connection (before a fork, and at shutdown), and those held outside it."""
        for hook in self._dispose_hooks:
            hook()
        self.engine.dispose()


def get_db(app: Flask | None = None) -> Database:
    """The Database of `app` (default: the current app)."""
    return (app or current_app).extensions["tsunagi.db"]


def session() -> Session:
    """The session of the current app context, created on first use and closed at teardown."""
    if "db_session" not in g:
        g.db_session = get_db().sessionmaker()
    return g.db_session


@contextmanager
def transaction() -> Iterator[Session]:
    """A fresh session in its own transaction on the current app's database."""
    with get_db().transaction() as s:
        yield s


def _close_session(_exc: BaseException | None) -> None:
    s = g.pop("db_session", None)
    if s is not None:
        s.close()


def init_app(app: Flask) -> None:
    """Attach the database named by the app's settings."""
    app.extensions["tsunagi.db"] = Database(app.config["TSUNAGI"].database_url)
    app.teardown_appcontext(_close_session)
