"""activities hold only what a person did: txid for the consumers' gap-safe cursors; scored_at and automations_at leave

Revision ID: core_0002_h18_activity_txid
Revises: core_0001
Depends on: scoring_0002_h18_state, automations_0004_h18_state (they carry the marks over first)

Existing rows get txid 0 (they are all committed); on PostgreSQL new rows get the inserting
transaction's id from the column default (activity.feed). The downgrade puts the marks back from
the consumers' tables: an activity taken in and no longer queued is marked handled.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db

revision: str = 'core_0002_h18_activity_txid'
down_revision: str | Sequence[str] | None = 'core_0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = ('scoring_0002_h18_state', 'automations_0004_h18_state')

PG_DEFAULT = "CAST(CAST(pg_current_xact_id() AS text) AS bigint)"


def upgrade() -> None:
    # NOT NULL DEFAULT 0 is a metadata-only change on PostgreSQL 11+: no rewrite of a large table.
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.add_column(sa.Column('txid', sa.BigInteger(), server_default=sa.text('0'), nullable=False))
        batch_op.create_index('ix_activities_txid', ['txid', 'id'], unique=False)
        batch_op.drop_index(batch_op.f('ix_activities_scored_at'))
        batch_op.drop_index(batch_op.f('ix_activities_automations_at'))
        batch_op.drop_column('scored_at')
        batch_op.drop_column('automations_at')
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE activities ALTER COLUMN txid SET DEFAULT {PG_DEFAULT}")


def _mark(column: str, cursors: str, consumer: str, queue: str, kind: str = "") -> None:
    """Set `column` on the activities the consumer has handled: taken in, no longer queued."""
    only = f"AND activities.kind = '{kind}' " if kind else ""
    op.get_bind().execute(sa.text(
        f"UPDATE activities SET {column} = :now "
        f"WHERE EXISTS (SELECT 1 FROM {cursors} c WHERE c.consumer = :consumer "
        f"  AND (activities.txid < c.txid OR (activities.txid = c.txid AND activities.id <= c.last_id))) "
        f"AND NOT EXISTS (SELECT 1 FROM {queue} q WHERE q.activity_id = activities.id) {only}")
        .bindparams(sa.bindparam("now", type_=db.UTCDateTime(timezone=True))), {"now": db.utcnow(), "consumer": consumer})


def downgrade() -> None:
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scored_at', db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('automations_at', db.UTCDateTime(timezone=True), nullable=True))
    _mark("scored_at", "scoring_cursors", "activities", "scoring_queue")
    _mark("automations_at", "automation_cursors", "form_submissions", "automation_form_queue", kind="form_submit")
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_activities_automations_at'), ['automations_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_activities_scored_at'), ['scored_at'], unique=False)
        batch_op.drop_index('ix_activities_txid')
        batch_op.drop_column('txid')
