"""Models and migrations must describe the same schema."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

import db
from sync.read import include_in_schema_comparison


def test_migrations_match_the_models(database_url):
    db.import_models()
    engine = create_engine(database_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True,
                                                     "include_object": include_in_schema_comparison})
        diff = compare_metadata(context, db.Base.metadata)
    engine.dispose()
    assert diff == [], f"run `flask --app app db revision` for your package branch: {diff}"
