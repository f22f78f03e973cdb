"""expression indexes on mirror fields that segments, lookup and reports filter on (PostgreSQL);
mirror counts per object by index

Revision ID: sync_0003_scale_read_fieldidx
Revises: sync_0002_sf_session_gapsafe

On PostgreSQL only: one index per (object_name, fields ->> 'Field') in sync.read.INDEXED_FIELDS,
and one on the mail id of open and click activities (the automation funnel joins them to mails);
SQLite serves small mirrors and its JSON expressions differ. On a large existing database, create
these first by hand with CREATE INDEX CONCURRENTLY under the same names (docs/operations.md); IF
NOT EXISTS then skips them. Both databases: ix_mirror_object_live for per-object counts.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "sync_0003_scale_read_fieldidx"
down_revision: str | Sequence[str] | None = "sync_0002_sf_session_gapsafe"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A copy, not an import of sync.read.INDEXED_FIELDS: a migration must not change when code does.
FIELDS = ("MailingState", "State", "LeadSource", "CampaignId", "ContactId", "LeadId", "WhoId", "AccountId",
          "OwnerId", "Status")


def upgrade() -> None:
    op.create_index("ix_mirror_object_live", "mirror_records", ["object_name", "is_deleted", "last_seen_at"])
    if op.get_bind().dialect.name != "postgresql":
        return
    for field in FIELDS:
        op.execute(f"CREATE INDEX IF NOT EXISTS ix_mirror_f_{field.lower()} "
                   f"ON mirror_records (object_name, (fields ->> '{field}'))")
    op.execute("CREATE INDEX IF NOT EXISTS ix_activities_mail_id ON activities ((details ->> 'mail_id')) "
               "WHERE kind IN ('mail_open', 'mail_click')")


def downgrade() -> None:
    op.drop_index("ix_mirror_object_live", table_name="mirror_records")
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_activities_mail_id")
    for field in FIELDS:
        op.execute(f"DROP INDEX IF EXISTS ix_mirror_f_{field.lower()}")
