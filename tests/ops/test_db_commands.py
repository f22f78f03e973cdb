"""`flask db current | history | heads | downgrade` alongside `upgrade`."""

from __future__ import annotations

import pytest
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from migrations import alembic_config

pytestmark = pytest.mark.db_independent


def _applied(url: str) -> set[str]:
    """Every revision the database at `url` holds: its current heads and all they stand on (a
    branch head another branch depends on is implied by it: alembic's "effective head")."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_heads()
    finally:
        engine.dispose()
    script = ScriptDirectory.from_config(alembic_config(url))
    return {r.revision for r in script.iterate_revisions(tuple(current), "base")} if current else set()


def test_current_history_heads_and_a_downgrade_round_trip(make_app, tmp_path):
    url = f"sqlite:///{tmp_path}/commands.db"
    app = make_app(database_url=url)
    runner = app.test_cli_runner()
    script = ScriptDirectory.from_config(alembic_config(url))
    every = {r.revision for r in script.walk_revisions()}
    scoring_head = script.get_revision("scoring@head")
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    assert _applied(url) == every

    heads = runner.invoke(args=["db", "heads"])
    assert heads.exit_code == 0 and scoring_head.revision in heads.output and "core_0001 " not in heads.output
    assert runner.invoke(args=["db", "current"]).exit_code == 0
    history = runner.invoke(args=["db", "history"])
    assert history.exit_code == 0 and "core_0001 -> scoring_0001" in history.output

    refused = runner.invoke(args=["db", "downgrade", "scoring@-1"], input="n\n")
    assert refused.exit_code != 0 and _applied(url) == every

    down = runner.invoke(args=["db", "downgrade", "scoring@-1", "--yes"])
    assert down.exit_code == 0, down.output
    applied = _applied(url)
    assert scoring_head.revision not in applied and scoring_head.down_revision in applied
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    assert _applied(url) == every
