"""login throttle

Revision ID: people_0001
Revises: core_0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db

revision: str = 'people_0001'
down_revision: str | Sequence[str] | None = 'core_0001'
branch_labels: str | Sequence[str] | None = ('people',)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('login_throttle',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('window_started_at', db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('blocked_until', db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_login_throttle'))
    )


def downgrade() -> None:
    op.drop_table('login_throttle')
