"""forms tables: definitions, submissions, describe cache, mirror prefix indexes

Revision ID: forms_0001
Revises: core_0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import db

revision: str = 'forms_0001'
down_revision: str | Sequence[str] | None = 'core_0001'
branch_labels: str | Sequence[str] | None = ('forms',)
depends_on: str | Sequence[str] | None = None

JSONDOC = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('form_definitions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('audience', sa.String(length=16), nullable=False),
    sa.Column('object_name', sa.String(length=80), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('spec', JSONDOC, nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_form_definitions')),
    sa.UniqueConstraint('key', name=op.f('uq_form_definitions_key'))
    )
    op.create_table('form_describe_cache',
    sa.Column('object_name', sa.String(length=80), nullable=False),
    sa.Column('fields', JSONDOC, nullable=False),
    sa.Column('fetched_at', db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('object_name', name=op.f('pk_form_describe_cache'))
    )
    op.create_table('form_submissions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.Column('form_key', sa.String(length=64), nullable=False),
    sa.Column('form_version', sa.Integer(), nullable=False),
    sa.Column('data', JSONDOC, nullable=False),
    sa.Column('person_id', sa.String(length=18), nullable=True),
    sa.Column('resolution', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('writeback_item_ids', JSONDOC, nullable=False),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('search_text', sa.Text(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('client_key', sa.String(length=64), nullable=True),
    sa.Column('created_at', db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('written_at', db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_form_submissions')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_form_submissions_idempotency_key'))
    )
    with op.batch_alter_table('form_submissions', schema=None) as batch_op:
        batch_op.create_index('ix_form_submissions_client', ['client_key', 'created_at'], unique=False)
        batch_op.create_index('ix_form_submissions_form', ['form_key', 'id'], unique=False)
        batch_op.create_index('ix_form_submissions_status', ['status', 'id'], unique=False)

    # Prefix (as-you-type) lookup on the mirror: text_pattern_ops lets PostgreSQL use the index
    # for LIKE 'prefix%' whatever the database collation.
    for name in ('email', 'kana', 'name', 'phone'):
        op.create_index(f'ix_forms_mirror_{name}_prefix', 'mirror_records', [f'{name}_key'], unique=False,
                        postgresql_ops={f'{name}_key': 'text_pattern_ops'})


def downgrade() -> None:
    for name in ('email', 'kana', 'name', 'phone'):
        op.drop_index(f'ix_forms_mirror_{name}_prefix', table_name='mirror_records')
    with op.batch_alter_table('form_submissions', schema=None) as batch_op:
        batch_op.drop_index('ix_form_submissions_status')
        batch_op.drop_index('ix_form_submissions_form')
        batch_op.drop_index('ix_form_submissions_client')
    op.drop_table('form_submissions')
    op.drop_table('form_describe_cache')
    op.drop_table('form_definitions')
