"""One describe cache (salesforce.describe): what the sync cycle describes serves the forms, what
`flask forms describe` fetches serves sync's field list, and one max age holds for every reader."""

from __future__ import annotations

from datetime import timedelta

import db
from salesforce.describe import DESCRIBE_MAX_AGE, fields_of, mark_stale, stale
from salesforce.models import ObjectDescribe
from sync import describe
from sync.cycle import run_cycle


def _app(make_app, devorg):
    return make_app(**devorg.app_settings(), sync_objects=("Lead",))


def test_the_sync_cycle_s_describe_gives_the_forms_their_lengths_and_required_flags(make_app, devorg):
    app = _app(make_app, devorg)
    assert run_cycle(app).outcome == "ok"
    with db.get_db(app).transaction() as session:
        last_name = fields_of(session, "Lead")["LastName"]
        assert last_name["type"] == "string" and last_name["length"] == 80 and last_name["required"]
        assert stale(session, ["Lead"]) == []


def test_the_forms_describe_command_fills_the_field_list_sync_reads(make_app, devorg):
    app = _app(make_app, devorg)
    result = app.test_cli_runner().invoke(args=["forms", "describe", "Contact"])
    assert result.exit_code == 0, result.output
    with db.get_db(app).transaction() as session:
        types = describe.field_types(session, ["Contact"])["Contact"]
        assert types["Email"] == "email" and types["Id"] == "id"
        assert not set(types.values()) & describe.EXCLUDED_TYPES


def test_a_describe_past_its_max_age_or_marked_stale_is_described_again_by_the_next_cycle(make_app, devorg):
    app = _app(make_app, devorg)
    assert run_cycle(app).outcome == "ok"
    with db.get_db(app).transaction() as session:
        row = session.get_one(ObjectDescribe, "Lead")
        row.described_at = db.utcnow() - DESCRIBE_MAX_AGE - timedelta(minutes=1)
    with db.get_db(app).transaction() as session:
        assert stale(session, ["Lead", "Contact"]) == ["Lead", "Contact"]  # old, and never described
    assert run_cycle(app).outcome == "ok"
    with db.get_db(app).transaction() as session:
        assert stale(session, ["Lead"]) == []
        mark_stale(session, "Lead")
    with db.get_db(app).transaction() as session:
        assert stale(session, ["Lead"]) == ["Lead"]
        assert fields_of(session, "Lead")["LastName"]["length"] == 80  # still readable meanwhile
