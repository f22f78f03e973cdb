"""mirror lookup keys for member number, phone suffix and email local-part suffix

Revision ID: sync_0004_front_line_2_lookupkey
Revises: sync_0003_scale_read_fieldidx

Three key columns on mirror_records, each with an index that serves a prefix search on both
databases (text_pattern_ops on PostgreSQL, so LIKE 'p%' uses it whatever the collation):
member_key (the member number of a Contact), phone_rev_key (E.164 digits reversed: a phone
suffix becomes a prefix) and email_local_rev_key (the local part reversed: "jiro@" becomes a
prefix). Existing rows are backfilled here from the keys they already hold and from the default
member field Tsunagi_Key__c; a site that configures another FORMS_MEMBER_NUMBER_FIELD runs a full
resync (docs/sync.md).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "sync_0004_front_line_2_lookupkey"
down_revision: str | Sequence[str] | None = "sync_0003_scale_read_fieldidx"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (("member_key", 80, "ix_mirror_member"), ("phone_rev_key", 20, "ix_mirror_phone_rev"),
           ("email_local_rev_key", 254, "ix_mirror_email_local_rev"))
# A copy of the default of FORMS_MEMBER_NUMBER_FIELD: a migration must not change when code does.
MEMBER_FIELD = "Tsunagi_Key__c"


def _backfill_sqlite(bind: sa.engine.Connection) -> None:
    # SQLite has no reverse(): compute in Python, in chunks by primary key.
    import json
    import re
    import unicodedata

    last = ""
    while True:
        rows = bind.execute(sa.text(
            "SELECT sf_id, object_name, fields, phone_key, email_key FROM mirror_records "
            "WHERE sf_id > :last ORDER BY sf_id LIMIT 1000"), {"last": last}).all()
        if not rows:
            return
        updates = []
        for sf_id, object_name, fields, phone, email in rows:
            values = json.loads(fields) if isinstance(fields, str) else (fields or {})
            member = values.get(MEMBER_FIELD) if object_name == "Contact" else None
            member = unicodedata.normalize("NFKC", str(member)).strip().lower()[:80] if member else None
            digits = re.sub(r"\D", "", phone or "")[::-1] or None
            local = (email or "").partition("@")[0][::-1] or None
            updates.append({"i": sf_id, "m": member or None, "p": digits, "e": local})
        bind.execute(sa.text("UPDATE mirror_records SET member_key = :m, phone_rev_key = :p, "
                             "email_local_rev_key = :e WHERE sf_id = :i"), updates)
        last = rows[-1][0]


def upgrade() -> None:
    with op.batch_alter_table("mirror_records") as batch_op:
        for name, length, _index in COLUMNS:
            batch_op.add_column(sa.Column(name, sa.String(length), nullable=True))
    for name, _length, index in COLUMNS:
        op.create_index(index, "mirror_records", [name], unique=False,
                        postgresql_ops={name: "text_pattern_ops"})
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # NFKC of the member number is left to the next change of that field: seeded and typical
        # member numbers are ASCII already.
        op.execute("UPDATE mirror_records SET "
                   f"member_key = CASE WHEN object_name = 'Contact' THEN left(lower(fields ->> '{MEMBER_FIELD}'), 80) END, "
                   "phone_rev_key = NULLIF(reverse(regexp_replace(coalesce(phone_key, ''), '\\D', '', 'g')), ''), "
                   "email_local_rev_key = NULLIF(reverse(split_part(coalesce(email_key, ''), '@', 1)), '')")
    else:
        _backfill_sqlite(bind)


def downgrade() -> None:
    for _name, _length, index in COLUMNS:
        op.drop_index(index, table_name="mirror_records")
    with op.batch_alter_table("mirror_records") as batch_op:
        for name, _length, _index in COLUMNS:
            batch_op.drop_column(name)
