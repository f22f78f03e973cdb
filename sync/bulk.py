"""Set-based writes of mirror rows and change events, fast on both databases.

SQLite takes executemany. On PostgreSQL the rows travel as ONE jsonb parameter expanded by
`jsonb_to_recordset`: a short statement text that the server plans once, instead of
SQLAlchemy's multi-row VALUES whose huge text psycopg re-parses for every page (measured: 3× faster).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Executable, bindparam, insert, select, text, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from db import table_of
from sync.models import ChangeEvent, MirrorRecord

_table = table_of(MirrorRecord)
_KEYS = ("email_key", "phone_key", "name_key", "kana_key", "company_key", "member_key", "phone_rev_key",
         "email_local_rev_key")
_MIRROR_COLUMNS = ("sf_id varchar, object_name varchar, fields jsonb, system_modstamp timestamptz, "
                   "is_deleted boolean, first_seen_at timestamptz, last_seen_at timestamptz, last_source varchar, "
                   + ", ".join(f"{k} varchar" for k in _KEYS))
_EVENT_COLUMNS = ("object_name varchar, record_id varchar, kind varchar, field varchar, old_value jsonb, "
                  "new_value jsonb, occurred_at timestamptz, recorded_at timestamptz, source varchar")
_EVENT_NAMES = ("object_name", "record_id", "kind", "field", "old_value", "new_value", "occurred_at",
                "recorded_at", "source")


def _json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v),
                      ensure_ascii=False)


def _is_pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def insert_mirror_rows(session: Session, rows: list[dict[str, Any]]) -> set[str]:
    """Insert new mirror rows, skipping ids that exist; returns the ids inserted."""
    if not rows:
        return set()
    if _is_pg(session):
        names = [c.split()[0] for c in _MIRROR_COLUMNS.split(", ")]
        stmt: Executable = text(f"INSERT INTO mirror_records ({', '.join(names)}) "
                    f"SELECT {', '.join(names)} FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r({_MIRROR_COLUMNS}) "
                    "ON CONFLICT (sf_id) DO NOTHING RETURNING sf_id")
        return set(session.execute(stmt, {"rows": _json(rows)}).scalars())
    stmt = sqlite_insert(_table).on_conflict_do_nothing(index_elements=["sf_id"]).returning(_table.c.sf_id)
    return set(session.execute(stmt, rows).scalars())


def update_mirror_rows(session: Session, rows: list[dict[str, Any]]) -> None:
    """Update mirror rows by `sf_id` with fields, stamp, delete flag, last seen/source and keys."""
    if not rows:
        return
    columns = ["fields", "system_modstamp", "is_deleted", "last_seen_at", "last_source", *_KEYS]
    if _is_pg(session):
        sets = ", ".join(f"{c} = r.{c}" for c in columns)
        stmt: Executable = text(f"UPDATE mirror_records AS m SET {sets} "
                    f"FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r({_MIRROR_COLUMNS}) WHERE m.sf_id = r.sf_id")
        session.execute(stmt, {"rows": _json(rows)})
        return
    stmt = update(_table).where(_table.c.sf_id == bindparam("b_id")).values(
        {c: bindparam(c) for c in columns})
    session.execute(stmt, [{**row, "b_id": row["sf_id"]} for row in rows])


def insert_events(session: Session, events: list[dict[str, Any]]) -> list[ChangeEvent]:
    """Insert change events and return them as ChangeEvent objects, in order."""
    if not events:
        return []
    if _is_pg(session):
        # JSON null becomes SQL NULL in jsonb_to_recordset, as the ORM would write None.
        stmt = text(f"INSERT INTO change_events ({', '.join(_EVENT_NAMES)}) "
                    f"SELECT {', '.join(_EVENT_NAMES)} FROM jsonb_to_recordset(CAST(:rows AS jsonb)) "
                    f"AS r({_EVENT_COLUMNS}) RETURNING *")
        loaded = session.scalars(select(ChangeEvent).from_statement(stmt), {"rows": _json(events)})
        return sorted(loaded, key=lambda e: e.id)
    # Unsorted RETURNING lets SQLite batch the rows (sorted falls back to one INSERT per row);
    # the single writer hands out ascending ids, so sorting by id restores the order.
    return sorted(session.scalars(insert(ChangeEvent).returning(ChangeEvent), events), key=lambda e: e.id)
