"""Enqueue writes to Salesforce (the contract every writer uses; the worker lives in writeback/worker.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db import insert_for, rows_matched, utcnow
from writeback.models import OPERATIONS, WritebackItem

KEY_LENGTH = 200  # WritebackItem.idempotency_key
# Kinds of reference to the record an earlier item made: its Id, or the id that names that record
# in WhoId / CampaignMember.ContactId (a Person Account's PersonContactId, else its Id).
REF_KINDS = ("id", "who")


def ref(item: WritebackItem, kind: str = "id") -> dict[str, Any]:
    """A field value the worker replaces by what `item` made: its Id (`id`), or its who-id (`who`)."""
    if kind not in REF_KINDS:
        raise ValueError(f"kind must be one of {REF_KINDS}")
    if item.id is None:
        raise ValueError("the referenced item has no id yet (flush it first)")
    return {"$ref": item.id} if kind == "id" else {"$ref": item.id, "as": kind}


def ref_target(value: Any) -> tuple[int, str] | None:
    """(item id, kind) when `value` is a reference made by `ref`, else None."""
    if not isinstance(value, dict) or not isinstance(value.get("$ref"), int) or isinstance(value["$ref"], bool):
        return None
    if set(value) == {"$ref"}:
        return value["$ref"], "id"
    if set(value) == {"$ref", "as"} and value["as"] in REF_KINDS:
        return value["$ref"], value["as"]
    return None


def enqueue(
    session: Session,
    *,
    key: str,
    object_name: str,
    operation: str,
    fields: dict[str, Any],
    record_id: str | None = None,
    external_id_field: str | None = None,
    depends_on: WritebackItem | None = None,
    origin: str = "",
    origin_ref: str = "",
) -> WritebackItem:
    """Add a write in the caller's transaction; the same `key` twice returns the first item.

    `update` and `delete` need `record_id`; `upsert` needs `external_id_field` and that field in
    `fields`. A field value `ref(depends_on)` ({"$ref": item.id}) is replaced by the Id Salesforce gave
    `depends_on`; `ref(depends_on, "who")` by the id naming that person in WhoId / ContactId.
    """
    if operation not in OPERATIONS:
        raise ValueError(f"operation must be one of {OPERATIONS}")
    if operation in ("update", "delete") and not record_id:
        raise ValueError(f"{operation} needs record_id")
    if operation == "upsert" and (not external_id_field or external_id_field not in fields):
        raise ValueError("upsert needs external_id_field and its value in fields")
    if not key or len(key) > KEY_LENGTH:
        raise ValueError(f"key must be 1 to {KEY_LENGTH} characters")
    existing = session.scalar(select(WritebackItem).where(WritebackItem.idempotency_key == key))
    if existing is not None:
        return existing
    if depends_on is not None and depends_on.id is None:
        session.flush()
    item = WritebackItem(
        idempotency_key=key, object_name=object_name, operation=operation, fields=fields,
        record_id=record_id, external_id_field=external_id_field,
        depends_on_id=depends_on.id if depends_on is not None else None,
        origin=origin, origin_ref=origin_ref, status="queued", due_at=utcnow(), attempts=0,
    )
    try:
        # A savepoint: when another transaction commits the same key between our SELECT and
        # INSERT (a double-click landing on two web processes), only our insert is undone and the
        # caller's transaction carries on with the item the other one made.
        with session.begin_nested():
            session.add(item)
            session.flush()
    except IntegrityError:
        existing = session.scalar(select(WritebackItem).where(WritebackItem.idempotency_key == key))
        if existing is None:
            raise
        return existing
    return item


def enqueue_many(session: Session, items: list[dict[str, Any]]) -> int:
    """`enqueue()` for many independent writes in one multi-row INSERT … ON CONFLICT DO NOTHING.

    Each item is a dict of `enqueue`'s keywords (`key`, `object_name`, `operation`, `fields`,
    `record_id`, `origin`, `origin_ref`; no `depends_on`). A key used before is left as it is.
    Returns how many items were new. For bulk producers (mail.log_tasks): `enqueue` costs a
    query, a savepoint and a flush per item.
    """
    now = utcnow()
    rows = []
    for item in items:
        if item["operation"] not in OPERATIONS or item["operation"] == "upsert":
            raise ValueError(f"operation must be one of create, update, delete (got {item['operation']!r})")
        if item["operation"] in ("update", "delete") and not item.get("record_id"):
            raise ValueError(f"{item['operation']} needs record_id")
        if not item["key"] or len(item["key"]) > KEY_LENGTH:
            raise ValueError(f"key must be 1 to {KEY_LENGTH} characters")
        rows.append({"idempotency_key": item["key"], "object_name": item["object_name"],
                     "operation": item["operation"], "fields": item["fields"], "record_id": item.get("record_id"),
                     "origin": item.get("origin", ""), "origin_ref": item.get("origin_ref", ""),
                     "status": "queued", "due_at": now, "attempts": 0, "created_at": now})
    if not rows:
        return 0
    table = WritebackItem.__table__
    stmt = insert_for(session, table).on_conflict_do_nothing(index_elements=["idempotency_key"])
    if session.get_bind().dialect.name == "postgresql":
        # psycopg's pipelined executemany of the one-row statement: with RETURNING it became one
        # statement of thousands of parameters that the driver parses anew for every batch.
        return rows_matched(session, stmt.execution_options(preserve_rowcount=True), rows)
    return len(session.execute(stmt.returning(table.c.id), rows).all())
