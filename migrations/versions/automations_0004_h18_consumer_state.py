"""automations' progress in its own tables: automation_cursors, automation_form_queue (from activities.automations_at)

Revision ID: automations_0004_h18_state
Revises: automations_0003_h15a_approvals

Carries the state over: the cursor starts at the last activity (txid 0 like every existing row)
and the form_submit activities not handled yet are queued. core_0002_h18_activity_txid (which
drops `activities.automations_at`) runs after this one.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'automations_0004_h18_state'
down_revision: str | Sequence[str] | None = 'automations_0003_h15a_approvals'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('automation_cursors',
    sa.Column('consumer', sa.String(length=32), nullable=False),
    sa.Column('txid', sa.BigInteger(), nullable=False),
    sa.Column('last_id', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('consumer', name=op.f('pk_automation_cursors'))
    )
    op.create_table('automation_form_queue',
    sa.Column('activity_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['activity_id'], ['activities.id'], name=op.f('fk_automation_form_queue_activity_id_activities'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('activity_id', name=op.f('pk_automation_form_queue'))
    )
    conn = op.get_bind()
    top = conn.scalar(sa.text("SELECT MAX(id) FROM activities")) or 0
    conn.execute(sa.text("INSERT INTO automation_cursors (consumer, txid, last_id) VALUES ('form_submissions', 0, :top)"),
                 {"top": top})
    conn.execute(sa.text("INSERT INTO automation_form_queue (activity_id) SELECT id FROM activities "
                         "WHERE automations_at IS NULL AND kind = 'form_submit'"))


def downgrade() -> None:
    op.drop_table('automation_form_queue')
    op.drop_table('automation_cursors')
