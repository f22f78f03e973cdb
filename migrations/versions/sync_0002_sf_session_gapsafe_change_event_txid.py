"""change_events.txid: the inserting transaction, so cursor consumers are gap-safe

Revision ID: sync_0002_sf_session_gapsafe
Revises: sync_0001

Existing rows get 0 (they are all committed); on PostgreSQL new rows get the inserting
transaction's id (pg_current_xact_id(), as a bigint) from the column default. See sync/feed.py.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'sync_0002_sf_session_gapsafe'  # alembic_version holds 32 characters
down_revision: str | Sequence[str] | None = 'sync_0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PG_DEFAULT = "CAST(CAST(pg_current_xact_id() AS text) AS bigint)"


def upgrade() -> None:
    # NOT NULL DEFAULT 0 is a metadata-only change on PostgreSQL 11+: no rewrite of a large table.
    with op.batch_alter_table('change_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('txid', sa.BigInteger(), server_default=sa.text('0'), nullable=False))
        batch_op.create_index('ix_change_events_txid', ['txid', 'id'], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE change_events ALTER COLUMN txid SET DEFAULT {PG_DEFAULT}")


def downgrade() -> None:
    with op.batch_alter_table('change_events', schema=None) as batch_op:
        batch_op.drop_index('ix_change_events_txid')
        batch_op.drop_column('txid')
