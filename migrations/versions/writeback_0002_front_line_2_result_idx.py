"""index writeback items by the Salesforce record they wrote

Revision ID: writeback_0002_frontline2_resid
Revises: writeback_0001

Automations look up which tsunagi user recorded a record (the rep named in the absent
follow-up mail) from the write-back item that wrote it.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "writeback_0002_frontline2_resid"
down_revision: str | Sequence[str] | None = "writeback_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_writeback_result", "writeback_items", ["result_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_writeback_result", table_name="writeback_items")
