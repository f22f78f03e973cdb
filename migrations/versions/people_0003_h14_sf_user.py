"""users.salesforce_user_id: the Salesforce User a field rep is

Revision ID: people_0003_h14_sf_user
Revises: people_0002_trust_rest_session

A rep's 担当のお客様 are the Leads and Contacts whose OwnerId is their Salesforce User, and the
absent follow-up mail gives that User's phone. Chosen by an admin on the user page; empty means
the mirrored User with the same email address.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "people_0003_h14_sf_user"
down_revision: str | Sequence[str] | None = "people_0002_trust_rest_session"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("salesforce_user_id", sa.String(18), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("salesforce_user_id")
