"""Models and migrations must describe the same schema."""

import ast
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

import db
from migrations import schema
from sync.read import include_in_schema_comparison


def test_migrations_match_the_models(database_url):
    engine = create_engine(database_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True,
                                                     "include_object": include_in_schema_comparison})
        diff = compare_metadata(context, schema.metadata())
    engine.dispose()
    assert diff == [], f"run `flask --app app db revision` for your package branch: {diff}"


def test_the_app_registers_every_models_module_of_the_schema(app):
    """The app's packages register (init_app) exactly the models modules Alembic and the tests read."""
    assert sorted(db.registered_models(app)) == sorted(m.__name__ for m in schema.MODEL_MODULES)


@pytest.mark.db_independent
def test_db_imports_no_package_of_the_product():
    """db.py sits below every package (import-linter cannot hold a single module in its layers): it
    imports only the standard library, Flask and SQLAlchemy, by name, never from strings."""
    tree = ast.parse(Path(db.__file__).read_text(encoding="utf-8"))
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    outside = {n for n in names if n.split(".")[0] not in sys.stdlib_module_names | {"flask", "sqlalchemy"}}
    assert outside == set()
    assert "importlib" not in names
