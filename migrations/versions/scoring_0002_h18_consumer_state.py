"""scoring's progress in its own tables: scoring_cursors, scoring_queue (from activities.scored_at)

Revision ID: scoring_0002_h18_state
Revises: scoring_0001

Carries the state over: the activities already scored stay scored (the cursor starts at the last
activity, txid 0 like every existing row), the unscored ones are queued; the change-event cursor
kept in the fake `scoring_models` row 'cursor:changes' becomes the `change_events` cursor row.
core_0002_h18_activity_txid (which drops `activities.scored_at`) runs after this one.
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db

revision: str = 'scoring_0002_h18_state'
down_revision: str | Sequence[str] | None = 'scoring_0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KEY = "cursor:changes"
models = sa.table("scoring_models", sa.column("key", sa.String), sa.column("document", db.JSONDocument),
                  sa.column("version", sa.Integer), sa.column("updated_at", db.UTCDateTime(timezone=True)),
                  sa.column("updated_by", sa.String))
cursors = sa.table("scoring_cursors", sa.column("consumer", sa.String), sa.column("txid", sa.BigInteger),
                   sa.column("last_id", sa.BigInteger))


def upgrade() -> None:
    op.create_table('scoring_cursors',
    sa.Column('consumer', sa.String(length=32), nullable=False),
    sa.Column('txid', sa.BigInteger(), nullable=False),
    sa.Column('last_id', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('consumer', name=op.f('pk_scoring_cursors'))
    )
    op.create_table('scoring_queue',
    sa.Column('activity_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['activity_id'], ['activities.id'], name=op.f('fk_scoring_queue_activity_id_activities'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('activity_id', name=op.f('pk_scoring_queue'))
    )
    conn = op.get_bind()
    top = conn.scalar(sa.text("SELECT MAX(id) FROM activities")) or 0
    conn.execute(cursors.insert().values(consumer="activities", txid=0, last_id=top))
    conn.execute(sa.text("INSERT INTO scoring_queue (activity_id) SELECT id FROM activities WHERE scored_at IS NULL"))
    document = conn.scalar(sa.select(models.c.document).where(models.c.key == OLD_KEY))
    if document is not None:  # (none before scoring first read the change events: it starts at (0, 0))
        if isinstance(document, str):
            document = json.loads(document)
        conn.execute(cursors.insert().values(consumer="change_events", txid=int(document.get("last_txid", 0)),
                                             last_id=int(document.get("last_id", 0))))
        conn.execute(models.delete().where(models.c.key == OLD_KEY))


def downgrade() -> None:
    conn = op.get_bind()
    row = conn.execute(sa.select(cursors.c.txid, cursors.c.last_id)
                       .where(cursors.c.consumer == "change_events")).first()
    if row is not None:
        conn.execute(models.insert().values(key=OLD_KEY, document={"last_txid": row.txid, "last_id": row.last_id},
                                            version=0, updated_at=db.utcnow(), updated_by=""))
    op.drop_table('scoring_queue')
    op.drop_table('scoring_cursors')
