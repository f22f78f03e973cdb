"""Migrations on a database that already holds data: the previous release's schema, every table
holding a row, upgraded to today's heads, taken down a step per branch and up again.

PREVIOUS_RELEASE_HEADS are the branch heads of the last release. Engineers add revisions on top
of them; this test then runs those upgrades (and their downgrades) on a populated database. After
a release, replace the tuple with `flask --app app db heads` of that release.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    create_engine,
    func,
    inspect,
    select,
    text,
)

from migrations import alembic_config, downgrade, upgrade
from sync.read import include_in_schema_comparison
from tests.fixtures.database import empty_pg_database

PREVIOUS_RELEASE_HEADS = ("core_0001", "people_0001", "sync_0001", "webhooks_0001", "writeback_0001", "mail_0001",
                          "forms_0001", "automations_0001", "scoring_0001")


@pytest.fixture
def empty_database(tmp_path: Path) -> str:
    """A database with no tables: SQLite, or PostgreSQL in the suite's PostgreSQL pass."""
    base = os.environ.get("TEST_DATABASE_URL", "").strip()
    if not base:
        return f"sqlite:///{tmp_path}/upgrade.db"
    return empty_pg_database(base, "upgrade")


def _value(column, n: int):
    """A plausible value of the column's type for row `n`."""
    kind = column["type"]
    if isinstance(kind, Boolean):
        return False
    if isinstance(kind, Integer | BigInteger | Numeric | Float):
        return n
    if isinstance(kind, DateTime):
        return dt.datetime(2026, 11, 1, 9, 0, n, tzinfo=dt.UTC)
    if isinstance(kind, Date):
        return dt.date(2026, 11, 1)
    if isinstance(kind, JSON):
        return {"n": n}
    if isinstance(kind, LargeBinary):
        return b"raw"
    if isinstance(kind, String | Text):
        length = getattr(kind, "length", None) or 40
        return f"v{n}"[:length] if column["name"] != "payload" else "{}"
    if kind.__class__.__name__ in {"JSONB", "JSON"}:
        return {"n": n}
    return f"v{n}"


def populate_every_table(url: str) -> dict[str, int]:
    """Insert one row into every table (parents first, foreign keys pointing at the parent's row)."""
    engine = create_engine(url)
    metadata = MetaData()
    metadata.reflect(engine)
    inspector = inspect(engine)
    inserted: dict[str, dict[str, object]] = {}
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            if table.name == "alembic_version":
                continue
            columns = {c["name"]: c for c in inspector.get_columns(table.name)}
            references = {}
            for fk in inspector.get_foreign_keys(table.name):
                for local, remote in zip(fk["constrained_columns"], fk["referred_columns"], strict=True):
                    references[local] = (fk["referred_table"], remote)
            row: dict[str, object] = {}
            for name, column in columns.items():
                if name in references:
                    parent, remote = references[name]
                    # A self-reference (or a cycle) points nowhere yet: such columns are nullable.
                    row[name] = inserted[parent][remote] if parent in inserted else None
                elif name == "id" and isinstance(column["type"], Integer | BigInteger):
                    continue  # the database numbers it
                else:
                    row[name] = _value(column, 1)
            result = conn.execute(table.insert().values(**row).returning(*table.c))
            inserted[table.name] = dict(result.mappings().one())
        counts = {t.name: conn.scalar(select(func.count()).select_from(t)) for t in metadata.sorted_tables}
    engine.dispose()
    return counts


def row_counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    metadata = MetaData()
    metadata.reflect(engine)
    with engine.connect() as conn:
        counts = {t.name: conn.scalar(select(func.count()).select_from(t)) for t in metadata.sorted_tables}
    engine.dispose()
    return counts


def test_a_populated_database_of_the_previous_release_upgrades_and_round_trips(empty_database):
    url = empty_database
    for head in PREVIOUS_RELEASE_HEADS:
        upgrade(url, head)
    before = populate_every_table(url)
    assert len(before) > 20 and all(before[name] == 1 for name in before if name != "alembic_version")

    upgrade(url, "heads")  # what `flask db upgrade` does on the next deploy
    after = row_counts(url)
    for name, count in before.items():
        if name != "alembic_version":
            assert after.get(name) == count, f"{name}: rows lost in the upgrade"

    # Each branch one step down and up again, with the data in place: downgrade() must work too.
    # Tables the step keeps keep their rows; tables it drops come back (empty) with the upgrade.
    script = ScriptDirectory.from_config(alembic_config(url))
    for head in sorted(script.get_heads()):
        if script.get_revision(head).down_revision is None:
            continue
        up = row_counts(url)
        downgrade(url, f"{head}@-1" if head.startswith("core") else f"{head.split('_')[0]}@-1")
        middle = row_counts(url)
        for name, count in middle.items():
            if name != "alembic_version":
                assert count == up[name], f"{name}: rows lost in the downgrade of {head}"
        upgrade(url, "heads")
        again = row_counts(url)
        assert set(again) == set(up), f"the upgrade after {head}@-1 did not restore every table"
        for name, count in middle.items():
            if name != "alembic_version":
                assert again[name] == count, f"{name}: rows lost in the upgrade after {head}@-1"

    # And the schema is the models' again.
    from migrations import schema

    engine = create_engine(url)
    with engine.connect() as conn:
        options = {"compare_type": True, "include_object": include_in_schema_comparison}
        diff = compare_metadata(MigrationContext.configure(conn, opts=options), schema.metadata())
    engine.dispose()
    assert diff == []


def test_the_consumers_marks_move_to_their_own_tables_and_back(empty_database):
    """activities.scored_at / automations_at become scoring's and automations' cursors and queues:
    nothing handled before the upgrade is handled again after it, and the downgrade puts the marks
    (and scoring's change-event cursor row) back."""
    url = empty_database
    for head in ("core_0001", "scoring_0001", "automations_0003_h15a_approvals"):
        upgrade(url, head)
    engine = create_engine(url)
    with engine.begin() as conn:
        for kind, scored, automated in (("form_submit", True, True), ("page_view", True, False),
                                        ("form_submit", False, False), ("page_view", False, False)):
            conn.execute(text(
                "INSERT INTO activities (kind, occurred_at, details, scored_at, automations_at) VALUES "
                f"(:kind, CURRENT_TIMESTAMP, '{{}}', {'CURRENT_TIMESTAMP' if scored else 'NULL'}, "
                f"{'CURRENT_TIMESTAMP' if automated else 'NULL'})"), {"kind": kind})
        conn.execute(text("INSERT INTO scoring_models (key, document, version, updated_at, updated_by) "
                          """VALUES ('cursor:changes', '{"last_id": 7}', 0, CURRENT_TIMESTAMP, '')"""))

    def rows(sql: str) -> list[tuple]:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]

    upgrade(url, "heads")
    assert rows("SELECT activity_id FROM scoring_queue ORDER BY 1") == [(3,), (4,)]
    assert rows("SELECT activity_id FROM automation_form_queue") == [(3,)]
    assert rows("SELECT consumer, txid, last_id FROM scoring_cursors ORDER BY 1") == [
        ("activities", 0, 4), ("change_events", 0, 7)]
    assert rows("SELECT consumer, txid, last_id FROM automation_cursors") == [("form_submissions", 0, 4)]
    assert rows("SELECT key FROM scoring_models") == []

    downgrade(url, "scoring@-1")  # core_0002 (which dropped the columns) goes first
    downgrade(url, "automations@-1")
    assert rows("SELECT id, scored_at IS NOT NULL, automations_at IS NOT NULL FROM activities ORDER BY id") == [
        (1, True, True), (2, True, False), (3, False, False), (4, False, False)]
    [(document,)] = rows("SELECT document FROM scoring_models WHERE key = 'cursor:changes'")
    document = json.loads(document) if isinstance(document, str) else document
    assert document == {"last_txid": 0, "last_id": 7}
    engine.dispose()
