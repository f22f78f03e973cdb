"""users.session_version: a signed-in session names the version it was made under

Revision ID: people_0002_trust_rest_session
Revises: people_0001

Signing out or changing a password bumps the version, so every cookie made before stops working
(Flask's session cookie is signed, not stored: without this, a copied cookie outlived the logout).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'people_0002_trust_rest_session'
down_revision: str | Sequence[str] | None = 'people_0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('session_version', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.drop_column('session_version')
