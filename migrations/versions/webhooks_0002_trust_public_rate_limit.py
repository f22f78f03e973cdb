"""outbound notifications: client key and indexes for the endpoint's rate limit

Revision ID: webhooks_0002_trust_public
Revises: webhooks_0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'webhooks_0002_trust_public'  # alembic_version holds at most 32 characters
down_revision: str | Sequence[str] | None = 'webhooks_0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbound_notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client_key', sa.String(length=32), nullable=True))
        batch_op.create_index('ix_outbound_notifications_received', ['received_at'], unique=False)
        batch_op.create_index('ix_outbound_notifications_client', ['client_key', 'received_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbound_notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_outbound_notifications_client')
        batch_op.drop_index('ix_outbound_notifications_received')
        batch_op.drop_column('client_key')
