"""person indexes on the outbox and consents (the person page and the sent-mail log)

Revision ID: mail_0003_person_page_index
Revises: mail_0002_scale_mass_lanes
"""

from collections.abc import Sequence

from alembic import op

revision: str = 'mail_0003_person_page_index'
down_revision: str | Sequence[str] | None = 'mail_0002_scale_mass_lanes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # One person's mails and consents are looked up by person id; without these every page view
    # would read the whole outbox.
    op.create_index('ix_mail_outbox_person', 'mail_outbox', ['person_id', 'id'], unique=False)
    op.create_index('ix_mail_consents_person', 'mail_consents', ['person_id', 'occurred_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_mail_consents_person', table_name='mail_consents')
    op.drop_index('ix_mail_outbox_person', table_name='mail_outbox')
