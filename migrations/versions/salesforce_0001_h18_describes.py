"""one describe cache, owned by salesforce: form_describe_cache takes over sync_objects.field_types

Revision ID: salesforce_0001_h18_describes
Revises: core_0001
Depends on: forms_0001 (form_describe_cache), sync_0001 (sync_objects)

Field descriptions were cached twice: sync kept field types in `sync_objects.field_types`
(+ `described_at`), forms kept a compact describe in `form_describe_cache` (+ `fetched_at`). The
one cache is `form_describe_cache` (salesforce.describe; it keeps its name so its rows stay where
they are): `fetched_at` becomes a nullable `described_at` (None = describe again at the next
refresh), sync's field types are carried into it, and sync's two columns are dropped.

A field type sync knew that the row lacked (or an object only sync had described) is carried over
as `{"type": ...}` with `described_at` None, so the next sync cycle or form use describes that
object again and fills in its labels, lengths and picklists. The downgrade gives sync its field
types back (every field of the cached describe except base64 and compound ones), drops the rows
the upgrade made from sync's types alone and were never described since, and stamps the others.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import db

revision: str = "salesforce_0001_h18_describes"
down_revision: str | Sequence[str] | None = "core_0001"
branch_labels: str | Sequence[str] | None = ("salesforce",)
depends_on: str | Sequence[str] | None = ("forms_0001", "sync_0001")

JSONDOC = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
# A copy of sync.describe.EXCLUDED_TYPES: a migration must not change when code does.
EXCLUDED_TYPES = frozenset({"base64", "address", "location"})


def _describes(stamp: str) -> sa.TableClause:
    return sa.table("form_describe_cache", sa.column("object_name", sa.String()), sa.column("fields", JSONDOC),
                    sa.column(stamp, db.UTCDateTime(timezone=True)))


def _sync_objects() -> sa.TableClause:
    return sa.table("sync_objects", sa.column("object_name", sa.String()), sa.column("field_types", JSONDOC),
                    sa.column("described_at", db.UTCDateTime(timezone=True)))


def upgrade() -> None:
    with op.batch_alter_table("form_describe_cache") as batch_op:
        batch_op.alter_column("fetched_at", new_column_name="described_at", nullable=True,
                              existing_type=sa.DateTime(timezone=True))
    bind = op.get_bind()
    describes, objects = _describes("described_at"), _sync_objects()
    cached = {name: (fields, at) for name, fields, at in bind.execute(sa.select(describes))}
    for name, types, described_at in bind.execute(sa.select(objects)):
        if not isinstance(types, dict) or not types:
            continue
        if name not in cached:
            bind.execute(describes.insert().values(object_name=name, described_at=None,
                                                   fields={field: {"type": kind} for field, kind in types.items()}))
            continue
        fields, fetched_at = cached[name]
        fields = dict(fields) if isinstance(fields, dict) else {}
        missing = {field: {"type": kind} for field, kind in types.items() if field not in fields}
        stamp = None if missing or described_at is None or fetched_at is None else min(described_at, fetched_at)
        bind.execute(describes.update().where(describes.c.object_name == name)
                     .values(fields={**fields, **missing}, described_at=stamp))
    with op.batch_alter_table("sync_objects") as batch_op:
        batch_op.drop_column("field_types")
        batch_op.drop_column("described_at")


def _mirrored(fields: Any) -> dict[str, Any]:
    if not isinstance(fields, dict):
        return {}
    return {name: f.get("type") for name, f in fields.items()
            if isinstance(f, dict) and f.get("type") not in EXCLUDED_TYPES}


def _from_sync_alone(fields: Any) -> bool:
    facts = list(fields.values()) if isinstance(fields, dict) else []
    return bool(facts) and all(isinstance(f, dict) and set(f) == {"type"} for f in facts)


def downgrade() -> None:
    with op.batch_alter_table("sync_objects") as batch_op:
        batch_op.add_column(sa.Column("field_types", JSONDOC, nullable=True))
        batch_op.add_column(sa.Column("described_at", db.UTCDateTime(timezone=True), nullable=True))
    bind = op.get_bind()
    describes, objects = _describes("described_at"), _sync_objects()
    cached = {name: (fields, at) for name, fields, at in bind.execute(sa.select(describes))}
    for (name,) in bind.execute(sa.select(objects.c.object_name)):
        fields, described_at = cached.get(name, ({}, None))
        bind.execute(objects.update().where(objects.c.object_name == name)
                     .values(field_types=_mirrored(fields), described_at=described_at))
    with op.batch_alter_table("sync_objects") as batch_op:
        batch_op.alter_column("field_types", existing_type=JSONDOC, nullable=False)
    for name, (fields, described_at) in cached.items():
        if described_at is None and _from_sync_alone(fields):
            bind.execute(describes.delete().where(describes.c.object_name == name))
    bind.execute(describes.update().where(describes.c.described_at.is_(None)).values(described_at=db.utcnow()))
    with op.batch_alter_table("form_describe_cache") as batch_op:
        batch_op.alter_column("described_at", new_column_name="fetched_at", nullable=False,
                              existing_type=sa.DateTime(timezone=True))
