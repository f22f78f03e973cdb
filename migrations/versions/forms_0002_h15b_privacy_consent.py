"""the privacy-policy consent given with a public form submission

Revision ID: forms_0002_h15b_privacy_consent
Revises: forms_0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = 'forms_0002_h15b_privacy_consent'
down_revision: str | Sequence[str] | None = 'forms_0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('form_submissions', schema=None) as batch_op:
        batch_op.add_column(sa.Column(
            'privacy_consent', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'),
            nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('form_submissions', schema=None) as batch_op:
        batch_op.drop_column('privacy_consent')
