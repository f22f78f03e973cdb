"""trigram indexes for infix look-up of phone numbers and mail addresses (PostgreSQL with pg_trgm)

Revision ID: forms_0003_h14_lookup_infix
Revises: forms_0002_h15b_privacy_consent

An operator types the middle of a number ("6496" of 03-6496-3255) or of a mail address
("ato.ji" of sato.jiro@…): forms.lookup searches `phone_key LIKE '%6496%'`. A B-tree cannot serve
a leading wildcard; a pg_trgm GIN index can (docs/forms.md shows the plan). Guarded: nothing is
made on SQLite, nor on a PostgreSQL where pg_trgm is not available or may not be created by this
role (the look-up then still works, by a scan bounded by its LIMIT).
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "forms_0003_h14_lookup_infix"
down_revision: str | Sequence[str] | None = "forms_0002_h15b_privacy_consent"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (("ix_mirror_phone_trgm", "phone_key"), ("ix_mirror_email_trgm", "email_key"))
log = logging.getLogger("alembic.runtime.migration")


def _trigrams_available(bind: sa.engine.Connection) -> bool:
    if bind.dialect.name != "postgresql":
        return False
    if not bind.execute(sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")).scalar():
        log.warning("pg_trgm is not available: infix look-up of phones and mail addresses will scan")
        return False
    try:
        with bind.begin_nested():  # a savepoint: a refused CREATE EXTENSION leaves the migration going
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError as exc:
        log.warning("pg_trgm cannot be created by this role (%s): infix look-up will scan", exc.orig)
        return False
    return True


def upgrade() -> None:
    bind = op.get_bind()
    if not _trigrams_available(bind):
        return
    for name, column in INDEXES:
        op.create_index(name, "mirror_records", [column], unique=False, postgresql_using="gin",
                        postgresql_ops={column: "gin_trgm_ops"})


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for name, _column in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
