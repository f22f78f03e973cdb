"""Alembic environment: the schema is every package's tables (`migrations.schema`)."""

from alembic import context
from sqlalchemy import engine_from_config, pool

from migrations import schema
from sync.read import include_in_schema_comparison

config = context.config
target_metadata = schema.metadata()


def run_migrations_online() -> None:
    """Run migrations against a live connection."""
    connectable = config.attributes.get("connection")
    if connectable is None:
        connectable = engine_from_config(config.get_section(config.config_ini_section, {}),
                                         prefix="sqlalchemy.", poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=connection.dialect.name == "sqlite", compare_type=True,
                          include_object=include_in_schema_comparison)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
