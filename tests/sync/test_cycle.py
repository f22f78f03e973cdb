"""Poll cycles against the dev org: the mirror ends identical to the org, with the fewest API calls."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

import db
from sync.cycle import run_cycle
from sync.models import ChangeEvent, MirrorRecord

OBJECTS = ("Lead", "Contact", "Account")


@pytest.fixture
def sync_app(make_app, devorg):
    return make_app(**devorg.app_settings(), sync_objects=OBJECTS, sync_page_size=200,
                    config={"SALESFORCE_GATEWAY_OPTIONS": {"max_retries": 0, "backoff_seconds": 0.01}})


def dump(app, object_name: str, include_deleted: bool = False) -> dict[str, dict]:
    args = ["mirror", "dump", object_name] + (["--include-deleted"] if include_deleted else [])
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    return {row["Id"]: row for row in rows}


def assert_mirror_equals_org(app, devorg, object_name: str) -> None:
    """Every live record of the org is in the mirror with the same field values, and no other."""
    org = {r["Id"]: r for r in devorg.records(object_name)}
    mirror = dump(app, object_name)
    assert sorted(mirror) == sorted(org)
    for sf_id, record in org.items():
        differing = {k: (v, mirror[sf_id].get(k)) for k, v in record.items() if mirror[sf_id].get(k) != v}
        assert not differing, f"{object_name} {sf_id}: {differing}"


def events(app, **where) -> list[tuple]:
    with db.get_db(app).transaction() as s:
        stmt = select(ChangeEvent).order_by(ChangeEvent.id)
        for name, value in where.items():
            stmt = stmt.where(getattr(ChangeEvent, name) == value)
        return [(e.kind, e.record_id, e.field, e.old_value, e.new_value, e.source) for e in s.scalars(stmt)]


def ok(result) -> None:
    assert result.outcome == "ok", (result.outcome, result.errors)


def test_first_cycle_mirrors_the_org_and_an_idle_cycle_costs_one_call(sync_app, devorg):
    account = devorg.insert("Account", Name="株式会社サンプル")
    for n in range(5):
        devorg.insert("Contact", LastName=f"山田{n}", FirstName="太郎", AccountId=account, Email=f"t{n}@example.jp")
    devorg.insert("Lead", LastName="佐藤", Company="(株)テスト", Phone="03-1234-5678")
    ok(run_cycle(sync_app))
    for name in OBJECTS:
        assert_mirror_equals_org(sync_app, devorg, name)
    contact = next(iter(dump(sync_app, "Contact").values()))
    assert contact["Account.Name"] == "株式会社サンプル"
    # The first load copies history: its events say so, and automations ignore them.
    assert {e[5] for e in events(sync_app)} == {"initial"}
    before = devorg.api_calls
    result = run_cycle(sync_app)
    ok(result)
    assert devorg.api_calls - before == 1
    assert result.api_calls == 1


def test_changes_deletes_and_undeletes_become_exactly_their_events(sync_app, devorg):
    lead = devorg.insert("Lead", LastName="佐藤", Company="テスト", Status="Open - Not Contacted")
    other = devorg.insert("Lead", LastName="鈴木", Company="テスト")
    ok(run_cycle(sync_app))
    first = len(events(sync_app))
    devorg.update("Lead", lead, Status="Working - Contacted", Email="sato@example.jp")
    devorg.delete("Lead", other)
    ok(run_cycle(sync_app))
    new = events(sync_app)[first:]
    assert sorted(new) == sorted([
        ("updated", lead, "Email", None, "sato@example.jp", "poll"),
        ("updated", lead, "Status", "Open - Not Contacted", "Working - Contacted", "poll"),
        ("deleted", other, None, None, None, "poll"),
    ])
    assert other not in dump(sync_app, "Lead") and other in dump(sync_app, "Lead", include_deleted=True)
    devorg.undelete("Lead", other)
    ok(run_cycle(sync_app))
    ok(run_cycle(sync_app))  # the overlap re-read must not repeat anything
    assert events(sync_app)[first + 3:] == [("undeleted", other, None, None, None, "poll")]
    assert_mirror_equals_org(sync_app, devorg, "Lead")
    later = devorg.insert("Lead", LastName="高橋", Company="新規")  # news after the first load
    ok(run_cycle(sync_app))
    assert events(sync_app)[first + 4:] == [("created", later, None, None, None, "poll")]


def test_records_sharing_one_stamp_across_a_page_boundary_are_all_mirrored(sync_app, devorg):
    stamp = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    devorg.set_clock(stamp)
    for n in range(300):
        devorg.insert("Lead", LastName=f"同時{n:03d}", Company="一括")
    devorg.set_clock(None)
    ok(run_cycle(sync_app, ["Lead"]))
    assert len(dump(sync_app, "Lead")) == 300
    assert_mirror_equals_org(sync_app, devorg, "Lead")
    assert len(events(sync_app, kind="created")) == 300


def test_late_commit_with_an_earlier_stamp_is_caught_by_the_overlap(sync_app, devorg):
    now = datetime.now(UTC).replace(microsecond=0)
    devorg.insert("Lead", LastName="先", Company="A")
    ok(run_cycle(sync_app, ["Lead"]))
    # A transaction that started a minute ago commits only now, stamped with its start time.
    devorg.set_clock(now - timedelta(minutes=1))
    late = devorg.insert("Lead", LastName="遅", Company="B")
    devorg.set_clock(None)
    ok(run_cycle(sync_app, ["Lead"]))
    assert late in dump(sync_app, "Lead")
    assert_mirror_equals_org(sync_app, devorg, "Lead")


@pytest.mark.parametrize("fault", ["503", "invalid_session", "limit_exceeded"])
def test_failure_in_mid_cycle_stops_cleanly_and_the_next_cycle_finishes(make_app, devorg, fault):
    app = make_app(**devorg.app_settings(), sync_objects=("Lead",), sync_page_size=200,
                   salesforce_limit_pause_seconds=1,
                   config={"SALESFORCE_GATEWAY_OPTIONS": {"max_retries": 0, "backoff_seconds": 0.01,
                                                          "limit_pause_seconds": 0}})
    for n in range(700):
        devorg.insert("Lead", LastName=f"顧客{n:03d}", Company="生協")
    # The probe page (200) and one more page succeed; the third query fails.
    count = 2 if fault == "invalid_session" else 1  # a 401 is retried once after signing in again
    devorg.inject_fault(r"/query", fault, count=count, method="GET")
    first = run_cycle(app)
    assert first.outcome == "failed"
    partial = len(dump(app, "Lead"))
    assert 0 < partial < 700
    devorg.clear_faults()
    if fault == "limit_exceeded":
        from salesforce import gateway_for

        gateway_for(app).resume()
    ok(run_cycle(app))
    assert_mirror_equals_org(app, devorg, "Lead")
    with db.get_db(app).transaction() as s:
        assert s.scalar(select(func.count()).select_from(MirrorRecord)) == 700
    created = events(app, kind="created")
    assert len(created) == 700 and len({e[1] for e in created}) == 700
    assert events(app, kind="updated") == []


@pytest.mark.slow
def test_initial_load_of_ten_thousand_records_costs_about_one_call_per_two_thousand(make_app, devorg):
    app = make_app(**devorg.app_settings(), sync_objects=("Lead",))
    for n in range(10_000):
        devorg.insert("Lead", LastName=f"会員{n:05d}", Company="生協", Email=f"m{n}@example.jp")
    before = devorg.api_calls
    result = run_cycle(app)
    ok(result)
    # describe (1, composite) + probe (1, composite) + ceil(9,500 / 2,000) pages = 7
    assert devorg.api_calls - before <= 7
    assert len(dump(app, "Lead")) == 10_000
    assert_mirror_equals_org(app, devorg, "Lead")


def test_quota_guard_stops_the_cycle_and_the_status_page_says_so(make_app, devorg, sign_in):
    app = make_app(**devorg.app_settings(), sync_objects=("Lead",), sync_quota_share=0.5)
    devorg.insert("Lead", LastName="佐藤", Company="テスト")
    devorg.set_api_limit(1000, used=600)
    result = run_cycle(app)
    assert result.outcome == "quota"
    from flask import Flask

    assert isinstance(app, Flask)
    with db.get_db(app).transaction() as s:
        from sync.status import report

        assert report(s, ("Lead",))["quota_stopped"] is True


def test_a_quota_stop_lifts_once_the_org_reports_usage_below_the_share_again(make_app, devorg):
    from salesforce import gateway_for

    app = make_app(**devorg.app_settings(), sync_objects=("Lead",), sync_quota_share=0.5)
    devorg.insert("Lead", LastName="佐藤", Company="テスト")
    devorg.set_api_limit(1000, used=600)
    assert run_cycle(app).outcome == "quota"
    devorg.set_api_limit(1000, used=10)  # the rolling 24 hours moved on
    calls = devorg.api_calls
    assert run_cycle(app).outcome == "quota"  # the last report is fresh: no call spent to ask again
    assert devorg.api_calls == calls
    usage = gateway_for(app).usage
    usage.reported_at = usage.reported_at - timedelta(minutes=16)
    ok(run_cycle(app))
    assert len(dump(app, "Lead")) == 1
