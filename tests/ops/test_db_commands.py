"""`flask db current | history | heads | downgrade` alongside `upgrade`."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.db_independent


def test_current_history_heads_and_a_downgrade_round_trip(make_app, tmp_path):
    app = make_app(database_url=f"sqlite:///{tmp_path}/commands.db")
    runner = app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0

    heads = runner.invoke(args=["db", "heads"])
    assert heads.exit_code == 0 and "scoring_0001" in heads.output and "core_0001" not in heads.output
    current = runner.invoke(args=["db", "current"])
    assert current.exit_code == 0
    # The database is at every branch's head (whatever revisions the branches have grown).
    head_ids = {word for word in heads.output.split() if "_0" in word}
    assert "scoring_0001" in head_ids and head_ids <= set(current.output.split())
    history = runner.invoke(args=["db", "history"])
    assert history.exit_code == 0 and "core_0001 -> scoring_0001" in history.output

    refused = runner.invoke(args=["db", "downgrade", "scoring@-1"], input="n\n")
    assert refused.exit_code != 0 and "scoring_0001" in runner.invoke(args=["db", "current"]).output

    down = runner.invoke(args=["db", "downgrade", "scoring@-1", "--yes"])
    assert down.exit_code == 0, down.output
    assert "scoring_0001" not in runner.invoke(args=["db", "current"]).output
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    assert "scoring_0001" in runner.invoke(args=["db", "current"]).output
