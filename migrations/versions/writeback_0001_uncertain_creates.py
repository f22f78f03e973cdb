"""writeback: remember creates that may have reached Salesforce without an answer

Revision ID: writeback_0001
Revises: core_0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db

revision: str = 'writeback_0001'
down_revision: str | Sequence[str] | None = 'core_0001'
branch_labels: str | Sequence[str] | None = ('writeback',)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('writeback_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('uncertain_since', db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('writeback_items', schema=None) as batch_op:
        batch_op.drop_column('uncertain_since')
