"""Scoring and automations keep their own progress through the activity table (activity.feed).

Each activity is handled once by each consumer: when it commits after a higher id was taken in,
when a worker dies mid-batch, when two workers run at once; and one consumer's progress never
stands in for the other's.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from automations import jobs as automation_jobs
from automations import triggers
from db import get_db
from scoring import progress, service
from scoring.models import ScoreEvent
from tests.scoring.people import MODEL, add_activity

PEOPLE = ["00Q000000000000001", "00Q000000000000002", "00Q000000000000003", "00Q000000000000004"]


@pytest.fixture
def tx(app):
    """Run a block in its own committed transaction: `with tx() as s: ...`."""
    with get_db(app).transaction() as s:
        service.import_model(s, MODEL)
    return get_db(app).transaction


def add(session, kind: str, person: str, **details) -> int:
    """Record an activity; its id."""
    row = add_activity(session, kind, person, **details)
    session.flush()
    return int(row.id)


def score_all(tx) -> None:
    with tx() as s:
        while service.score_new_activity(s):
            pass


def scored_ids(tx) -> list[int]:
    """The activities in the points ledger, once per ledger row (unique, so a repeat would fail)."""
    with tx() as s:
        return sorted(s.scalars(select(ScoreEvent.activity_id)))


def unscored(tx) -> int:
    with tx() as s:
        return progress.unscored(s)


def test_an_activity_committed_after_a_higher_id_was_taken_in_is_still_scored(app, tx):
    if get_db(app).is_sqlite:
        pytest.skip("PostgreSQL's concurrent writers (SQLite's single writer commits ids in order)")
    with get_db(app).sessionmaker() as writer_a:
        writer_a.begin()
        late_id = add(writer_a, "form_submit", PEOPLE[0])  # A holds id N, not committed yet
        with tx() as writer_b:  # B takes N+1 and commits while A is open
            early_id = add(writer_b, "form_submit", PEOPLE[1])
        assert early_id > late_id
        score_all(tx)  # scoring runs while A is still open
        writer_a.commit()
    score_all(tx)

    assert scored_ids(tx) == sorted([late_id, early_id])
    assert unscored(tx) == 0


def test_a_worker_killed_mid_batch_leaves_its_activities_to_the_next_one(tx):
    with tx() as s:
        ids = [add(s, "form_submit", person) for person in PEOPLE[:3]]

    with pytest.raises(RuntimeError), tx() as s:
        assert service.score_new_activity(s) == 3
        raise RuntimeError("the worker dies before its commit")
    assert scored_ids(tx) == []
    assert unscored(tx) == 3

    score_all(tx)
    score_all(tx)
    assert scored_ids(tx) == sorted(ids)
    assert unscored(tx) == 0


def test_two_workers_at_once_each_score_other_activities(app, tx):
    if get_db(app).is_sqlite:
        pytest.skip("PostgreSQL's row locks (SQLite runs one writer at a time)")
    with tx() as s:
        ids = [add(s, "page_view", person, url="https://coop.example.jp/") for person in PEOPLE]
    with tx() as s:
        assert progress.take_in(s) == 4

    database = get_db(app)
    with database.sessionmaker() as first, database.sessionmaker() as second:
        first.begin()
        second.begin()
        assert service.score_new_activity(first, limit=2) == 2  # holds its two until it commits
        assert service.score_new_activity(second, limit=10) == 2  # skips them, takes the other two
        first.commit()
        second.commit()
    score_all(tx)

    assert scored_ids(tx) == sorted(ids)


def test_scoring_and_automations_each_handle_an_activity_once_whoever_comes_first(app, tx):
    def automations() -> int:
        with app.app_context(), tx() as s:
            return triggers.process_form_submissions(s, automation_jobs.runtime())

    with tx() as s:
        first = add(s, "form_submit", PEOPLE[0])
    score_all(tx)
    assert scored_ids(tx) == [first]
    assert automations() == 1  # scoring's progress is not automations'
    assert automations() == 0

    with tx() as s:
        second = add(s, "form_submit", PEOPLE[1])
        add_activity(s, "page_view", PEOPLE[1], url="https://coop.example.jp/")  # not automations' kind
    assert automations() == 1
    assert unscored(tx) == 2  # automations' progress is not scoring's
    score_all(tx)
    assert second in scored_ids(tx)
    assert unscored(tx) == 0
    with tx() as s:
        assert s.scalar(select(func.count()).select_from(ScoreEvent)) == 3
