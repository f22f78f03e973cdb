"""outbound notifications

Revision ID: webhooks_0001
Revises: core_0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import db

revision: str = 'webhooks_0001'
down_revision: str | Sequence[str] | None = 'core_0001'
branch_labels: str | Sequence[str] | None = ('webhooks',)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('outbound_notifications',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('notification_id', sa.String(length=40), nullable=False),
    sa.Column('organization_id', sa.String(length=18), nullable=False),
    sa.Column('action_id', sa.String(length=18), nullable=False),
    sa.Column('object_name', sa.String(length=80), nullable=False),
    sa.Column('record_id', sa.String(length=18), nullable=False),
    sa.Column('fields', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('raw', sa.Text(), nullable=False),
    sa.Column('received_at', db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('applied_at', db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('due_at', db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('locked_by', sa.String(length=64), nullable=True),
    sa.Column('locked_until', db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbound_notifications')),
    sa.UniqueConstraint('notification_id', name=op.f('uq_outbound_notifications_notification_id'))
    )
    with op.batch_alter_table('outbound_notifications', schema=None) as batch_op:
        batch_op.create_index('ix_outbound_notifications_due', ['status', 'due_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbound_notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_outbound_notifications_due')

    op.drop_table('outbound_notifications')
