"""topics of marketing mail an address opted out of (the preference centre)

Revision ID: mail_0004_h15b_topic_optouts
Revises: mail_0003_person_page_index
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db

revision: str = 'mail_0004_h15b_topic_optouts'
down_revision: str | Sequence[str] | None = 'mail_0003_person_page_index'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The primary key (address, topic) is also the index the outbox worker reads per batch.
    op.create_table('mail_topic_optouts',
    sa.Column('address', sa.String(length=254), nullable=False),
    sa.Column('topic', sa.String(length=32), nullable=False),
    sa.Column('person_id', sa.String(length=18), nullable=True),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('created_at', db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('address', 'topic', name=op.f('pk_mail_topic_optouts'))
    )


def downgrade() -> None:
    op.drop_table('mail_topic_optouts')
