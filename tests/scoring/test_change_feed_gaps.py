"""Scoring's change-event cursor never skips an event that commits after a higher id was read.

Two real writers: transaction A takes event id N and stays open, transaction B takes N+1 and
commits, scoring reads, then A commits. Scoring must still turn A's change into activity.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine, select, text, update

import db
from activity.models import Activity
from scoring import jobs
from sync.mirror import apply_records
from sync.models import ChangeEvent

from .people import add_records

MEMBERS = {"00v000000000000001": "003000000000000001", "00v000000000000002": "003000000000000002"}


def _seed(database: db.Database) -> None:
    with database.transaction() as s:
        for member, contact in MEMBERS.items():
            add_records(s, "CampaignMember", {"Id": member, "ContactId": contact, "CampaignId": "701000000000000001",
                                              "Status": "送信済み"})
    with database.transaction() as s:
        jobs.process_changes(s)  # the members' creation: nothing to score yet


def _seeded_on_postgres(app, reason: str) -> db.Database:
    """The app's database with the members seeded; the test is skipped on SQLite for `reason`."""
    database = db.get_db(app)
    if database.is_sqlite:
        pytest.skip(reason)
    _seed(database)
    return database


def _attend(session, member: str) -> int:
    """A poll (or webhook) that sees the member's status turn to 出席; returns the event id."""
    [event] = apply_records(session, "CampaignMember", [
        {"Id": member, "Status": "出席", "SystemModstamp": "2026-11-21T10:00:00.000+0000"}], "poll")
    return event.id


def _scored_members(database: db.Database) -> set[str]:
    with database.transaction() as s:
        acts = s.scalars(select(Activity).where(Activity.kind == "campaign_status")).all()
        return {a.person_id for a in acts if a.details.get("status") == "出席"}


def _consume(database: db.Database) -> int:
    with database.transaction() as s:
        return jobs.process_changes(s)


def test_an_event_committed_after_a_higher_id_was_read_is_still_processed(app):
    database = _seeded_on_postgres(app, "PostgreSQL's concurrent writers; SQLite's single writer: see the test below")
    first, second = MEMBERS
    with database.sessionmaker() as writer_a:
        writer_a.begin()
        n = _attend(writer_a, first)  # A holds id N, not committed yet
        with database.transaction() as writer_b:  # B takes N+1 and commits while A is open
            assert _attend(writer_b, second) > n
        _consume(database)  # the consumer runs while A is still open
        writer_a.commit()
    _consume(database)

    assert _scored_members(database) == set(MEMBERS.values())
    with database.transaction() as s:
        assert s.scalar(select(ChangeEvent.id).where(ChangeEvent.id == n)) == n  # A's event did commit


def test_on_sqlite_a_consumer_waits_for_the_open_writer_and_then_reads_its_event(app):
    database = db.get_db(app)
    if not database.is_sqlite:
        pytest.skip("SQLite only: one writer at a time, so ids commit in order")
    _seed(database)
    first, _second = MEMBERS
    with database.sessionmaker() as writer_a:
        writer_a.begin()
        _attend(writer_a, first)
        with ThreadPoolExecutor(1) as pool:
            consumer = pool.submit(_consume, database)  # BEGIN IMMEDIATE waits for A's write lock
            time.sleep(0.3)
            assert not consumer.done()
            writer_a.commit()
            assert consumer.result(timeout=15) == 1

    assert _scored_members(database) == {MEMBERS[first]}


def test_each_event_is_processed_once_across_runs(app):
    database = db.get_db(app)
    _seed(database)
    first, second = MEMBERS
    with database.transaction() as s:
        _attend(s, first)
    assert _consume(database) == 1
    with database.transaction() as s:
        _attend(s, second)
    assert _consume(database) == 1
    assert _consume(database) == 0
    with database.transaction() as s:
        acts = s.scalars(select(Activity).where(Activity.kind == "campaign_status")).all()
    assert sorted(a.person_id for a in acts) == sorted(MEMBERS.values())


def test_a_cursor_kept_before_the_upgrade_goes_on_without_repeating_or_skipping(app):
    """A cursor at (0, n) — what the migrations leave of a `{"last_id": n}` cursor written before
    `txid` existed: rows that were already in the table (txid 0 after the migration) up to n are
    not handled again."""
    from scoring import progress

    database = db.get_db(app)
    _seed(database)
    first, second = MEMBERS
    with database.transaction() as s:
        done = _attend(s, first)
    with database.transaction() as s:
        s.execute(update(ChangeEvent).values(txid=0))  # what the migration leaves on existing rows
        cursor = progress.cursor(s, progress.CHANGE_EVENTS)
        cursor.txid, cursor.last_id = 0, done  # the old cursor's position
    with database.transaction() as s:
        _attend(s, second)

    assert _consume(database) == 1
    assert _scored_members(database) == {MEMBERS[second]}


def test_a_long_transaction_in_another_database_of_the_server_does_not_stall_the_consumer(app):
    """xids are counted across the PostgreSQL server: a busy neighbour database must not hold us back."""
    database = _seeded_on_postgres(app, "PostgreSQL only")
    first, _second = MEMBERS
    neighbour = create_engine(database.engine.url.set(database="postgres"))
    try:
        with neighbour.connect() as other:
            other.execute(text("SELECT pg_current_xact_id()"))  # an open transaction holding an xid
            with database.transaction() as s:
                _attend(s, first)
            assert _consume(database) == 1
            other.rollback()
    finally:
        neighbour.dispose()
    assert _scored_members(database) == {MEMBERS[first]}
