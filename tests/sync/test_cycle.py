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


def time_passes(app, devorg, minutes: int = 1) -> None:
    """The org's clock moves on past the next whole minute, as between two real cycles.

    The `updated`/`deleted` windows work in whole minutes and end at the org's current minute, so a
    change shows up once the org's clock has passed its minute. The gateway learns the org's new
    time from its next answer (in real time its estimate advances by itself): one `limits` call here,
    made before a test counts calls.
    """
    from salesforce import gateway_for

    devorg.set_clock_offset(devorg.store.clock_offset + timedelta(minutes=minutes, seconds=1))
    gateway_for(app).limits()


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
    loaded = len(events(sync_app))
    # The next minute `updated` still lists what the load read in its last minute (windows are whole
    # minutes): one re-read, no events. From then on an idle cycle is the probe alone.
    time_passes(sync_app, devorg)
    ok(run_cycle(sync_app))
    assert len(events(sync_app)) == loaded
    time_passes(sync_app, devorg)
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
    time_passes(sync_app, devorg)
    ok(run_cycle(sync_app))
    new = events(sync_app)[first:]
    assert sorted(new) == sorted([
        ("updated", lead, "Email", None, "sato@example.jp", "poll"),
        ("updated", lead, "Status", "Open - Not Contacted", "Working - Contacted", "poll"),
        ("deleted", other, None, None, None, "poll"),
    ])
    assert other not in dump(sync_app, "Lead") and other in dump(sync_app, "Lead", include_deleted=True)
    devorg.undelete("Lead", other)
    time_passes(sync_app, devorg)
    ok(run_cycle(sync_app))
    time_passes(sync_app, devorg)
    ok(run_cycle(sync_app))  # re-reading up to the safe point must not repeat anything
    assert events(sync_app)[first + 3:] == [("undeleted", other, None, None, None, "poll")]
    assert_mirror_equals_org(sync_app, devorg, "Lead")
    later = devorg.insert("Lead", LastName="高橋", Company="新規")  # news after the first load
    time_passes(sync_app, devorg)
    ok(run_cycle(sync_app))
    assert events(sync_app)[first + 4:] == [("created", later, None, None, None, "poll")]


def test_a_purge_in_the_first_second_of_the_delete_window_still_reconciles(sync_app, devorg):
    """Stamps are whole seconds: a purge stamped with the window's very start may hide a delete."""
    from salesforce import gateway_for

    devorg.set_clock(datetime(2026, 11, 20, 10, 0, 40, tzinfo=UTC))
    kept = devorg.insert("Lead", LastName="残る", Company="A")
    gone = devorg.insert("Lead", LastName="消える", Company="B")
    devorg.set_clock(datetime(2026, 11, 20, 10, 1, 0, tzinfo=UTC))  # the first load: delete log from 10:01:00
    gateway_for(sync_app).limits()
    ok(run_cycle(sync_app, ["Lead"]))
    first = len(events(sync_app))
    devorg.delete("Lead", gone)  # deleted and purged in that same second
    assert devorg.empty_recycle_bin() == 1
    devorg.set_clock(datetime(2026, 11, 20, 10, 2, 30, tzinfo=UTC))
    gateway_for(sync_app).limits()
    ok(run_cycle(sync_app, ["Lead"]))
    assert events(sync_app)[first:] == [("deleted", gone, None, None, None, "poll")]
    assert list(dump(sync_app, "Lead")) == [kept]


def test_hard_deletes_are_found_by_reconciling_ids(sync_app, devorg):
    kept = devorg.insert("Lead", LastName="残る", Company="A")
    gone = devorg.insert("Lead", LastName="消える", Company="B")
    ok(run_cycle(sync_app, ["Lead"]))
    first = len(events(sync_app))
    devorg.delete("Lead", gone)
    assert devorg.empty_recycle_bin() == 1  # the delete log no longer reaches back to our last read
    time_passes(sync_app, devorg)
    ok(run_cycle(sync_app, ["Lead"]))
    assert events(sync_app)[first:] == [("deleted", gone, None, None, None, "poll")]
    assert list(dump(sync_app, "Lead")) == [kept]
    assert_mirror_equals_org(sync_app, devorg, "Lead")


def test_records_sharing_one_stamp_across_a_page_boundary_are_all_mirrored(sync_app, devorg):
    stamp = devorg.now() - timedelta(minutes=30)
    devorg.set_clock(stamp)
    for n in range(300):
        devorg.insert("Lead", LastName=f"同時{n:03d}", Company="一括")
    devorg.set_clock(None)
    ok(run_cycle(sync_app, ["Lead"]))
    assert len(dump(sync_app, "Lead")) == 300
    assert_mirror_equals_org(sync_app, devorg, "Lead")
    assert len(events(sync_app, kind="created")) == 300
    # Once loaded, 300 changes stamped in one second also cross page boundaries (pages of ≤ 200).
    devorg.set_clock(devorg.now())
    for record_id in dump(sync_app, "Lead"):
        devorg.update("Lead", record_id, Status="Working - Contacted")
    devorg.set_clock(None)
    time_passes(sync_app, devorg)
    ok(run_cycle(sync_app, ["Lead"]))
    assert_mirror_equals_org(sync_app, devorg, "Lead")
    changed = events(sync_app, kind="updated")
    assert len(changed) == 300 and {e[2] for e in changed} == {"Status"} and len({e[1] for e in changed}) == 300


def test_late_commits_with_earlier_stamps_are_read(sync_app, devorg):
    # Five two-minute steps follow: starting 12 minutes back, the org's clock ends about where the
    # host's is, and the first transaction commits some 10 minutes late.
    devorg.set_clock_offset(timedelta(minutes=-12))
    devorg.insert("Lead", LastName="先", Company="A")
    ok(run_cycle(sync_app, ["Lead"]))
    first = len(events(sync_app))
    late, early = [], []
    for n in range(5):
        # A transaction begins (its records carry this moment's stamp) and commits minutes later,
        # after other changes were committed, stamped later, and read by several cycles.
        tx = devorg.begin_late_commit()
        tx.insert("Lead", LastName=f"遅{n}", Company="長い処理")
        late.append(tx)
        early.append(devorg.insert("Lead", LastName=f"早{n}", Company="即時"))
        time_passes(sync_app, devorg, minutes=2)
        ok(run_cycle(sync_app, ["Lead"]))
        assert early[-1] in dump(sync_app, "Lead")
    committed = [tx.commit()[0] for tx in late]
    stamps = {r["Id"]: r["SystemModstamp"] for r in devorg.records("Lead")}
    # Earlier than records already read (the last one began in the same second as its early twin).
    assert all(stamps[c] < stamps[early[-1]] for c in committed[:-1]) and stamps[committed[-1]] <= stamps[early[-1]]
    time_passes(sync_app, devorg)
    ok(run_cycle(sync_app, ["Lead"]))
    time_passes(sync_app, devorg)
    ok(run_cycle(sync_app, ["Lead"]))
    assert_mirror_equals_org(sync_app, devorg, "Lead")
    created = events(sync_app)[first:]
    assert sorted(created) == sorted(("created", i, None, None, None, "poll") for i in early + committed)


@pytest.mark.parametrize("org_minus_host", [-45, 45], ids=["org_45_min_behind", "org_45_min_ahead"])
def test_an_org_clock_far_from_the_host_clock_loses_nothing(sync_app, devorg, org_minus_host):
    devorg.set_clock_offset(timedelta(minutes=org_minus_host))
    lead = devorg.insert("Lead", LastName="佐藤", Company="テスト")
    ok(run_cycle(sync_app))
    first = len(events(sync_app))
    made = []
    for n in range(3):
        devorg.update("Lead", lead, Title=f"役職{n}")
        made.append(devorg.insert("Contact", LastName=f"新規{n}"))
        time_passes(sync_app, devorg)
        ok(run_cycle(sync_app))
        for name in OBJECTS:
            assert_mirror_equals_org(sync_app, devorg, name)
    assert events(sync_app)[first:] == [
        e for n in range(3) for e in (("updated", lead, "Title", f"役職{n - 1}" if n else None, f"役職{n}", "poll"),
                                      ("created", made[n], None, None, None, "poll"))]
    time_passes(sync_app, devorg)
    before = devorg.api_calls
    ok(run_cycle(sync_app))
    assert devorg.api_calls - before == 1


def test_the_default_eight_objects_sync_within_the_composite_limits(make_app, devorg):
    # The eight objects of the default before Opportunity and OpportunityContactRole joined it.
    eight = ("Lead", "Contact", "Account", "Task", "Event", "Campaign", "CampaignMember", "User")
    app = make_app(**devorg.app_settings(), sync_page_size=200, sync_objects=eight,
                   config={"SALESFORCE_GATEWAY_OPTIONS": {"max_retries": 0, "backoff_seconds": 0.01}})
    names = app.config["TSUNAGI"].sync_objects
    assert names == eight and set(eight) < set(make_app().config["TSUNAGI"].sync_objects)
    account = devorg.insert("Account", Name="配送センター")
    contact = devorg.insert("Contact", LastName="会員", AccountId=account)
    lead = devorg.insert("Lead", LastName="見込", Company="個人")
    campaign = devorg.insert("Campaign", Name="秋のキャンペーン")
    member = devorg.insert("CampaignMember", CampaignId=campaign, ContactId=contact)
    task = devorg.insert("Task", Subject="訪問", WhoId=contact)
    event = devorg.insert("Event", Subject="訪問予定", WhoId=contact, StartDateTime=devorg.now(),
                          EndDateTime=devorg.now() + timedelta(hours=1))
    ok(run_cycle(app))  # describe, probe and eight first loads: more than 5 queries, cut into calls
    for name in names:
        assert_mirror_equals_org(app, devorg, name)
    time_passes(app, devorg)
    ok(run_cycle(app))  # the load's last minute read once more; from now on only changes are read
    first = len(events(app))
    # Every object changes at once: eight queries again, at most five per composite call.
    devorg.update("Account", account, Phone="03-1111-2222")
    devorg.update("Contact", contact, Email="kaiin@example.jp")
    devorg.update("Lead", lead, Title="店長")
    devorg.update("Campaign", campaign, Status="In Progress")
    devorg.update("CampaignMember", member, Status="Responded")
    devorg.update("Task", task, Status="Completed")
    devorg.update("Event", event, Location="本店")
    devorg.update("User", devorg.person_user_id, Title="管理者")
    time_passes(app, devorg)
    before = devorg.api_calls
    ok(run_cycle(app))
    assert devorg.api_calls - before == 3  # the probe, then 8 first pages in two composite calls
    for name in names:
        assert_mirror_equals_org(app, devorg, name)
    # Exactly the changes made, derived fields included (Task.IsClosed, CampaignMember.HasResponded).
    assert sorted((e[0], e[1], e[2]) for e in events(app)[first:]) == sorted(("updated", i, f) for i, f in [
        (account, "Phone"), (contact, "Email"), (lead, "Title"), (campaign, "Status"), (member, "Status"),
        (member, "HasResponded"), (task, "Status"), (task, "IsClosed"), (event, "Location"),
        (devorg.person_user_id, "Title")])
    time_passes(app, devorg)
    time_passes(app, devorg)
    before = devorg.api_calls
    ok(run_cycle(app))
    assert devorg.api_calls - before == 1  # the idle cycle of eight objects: one call


@pytest.mark.parametrize("fault", ["503", "invalid_session", "limit_exceeded", "slow", "reset"])
def test_failure_in_mid_cycle_stops_cleanly_and_the_next_cycle_finishes(make_app, devorg, fault):
    from salesforce import gateway_for

    # Only the stalled answer needs a short patience; a short one elsewhere fails healthy calls
    # on a loaded machine (CI once timed out the recovery cycle's composite call at 1 s).
    patience = {"timeout": 2.0} if fault == "slow" else {}
    app = make_app(**devorg.app_settings(), sync_objects=("Lead",), sync_page_size=200,
                   salesforce_limit_pause_seconds=1,
                   config={"SALESFORCE_GATEWAY_OPTIONS": {"max_retries": 0, "backoff_seconds": 0.01,
                                                          "limit_pause_seconds": 0, **patience}})
    for n in range(700):
        devorg.insert("Lead", LastName=f"顧客{n:03d}", Company="生協")
    # The first page (in a composite call) succeeds; the first query-more page fails: an error,
    # a stalled answer (past the gateway's timeout) or a connection reset without an answer.
    count = 2 if fault == "invalid_session" else 1  # a 401 is retried once after signing in again
    devorg.inject_fault(r"/queryAll/01g", fault, count=count, method="GET", delay=6.0)
    first = run_cycle(app)
    assert first.outcome == "failed"
    partial = len(dump(app, "Lead"))
    assert 0 < partial < 700
    devorg.clear_faults()
    gateway_for(app).timeout = 30.0  # the org answers again: the next cycle waits as production does
    if fault == "limit_exceeded":
        gateway_for(app).resume()
    ok(run_cycle(app))
    assert_mirror_equals_org(app, devorg, "Lead")
    with db.get_db(app).transaction() as s:
        assert s.scalar(select(func.count()).select_from(MirrorRecord)) == 700
    created = events(app, kind="created")
    assert len(created) == 700 and len({e[1] for e in created}) == 700
    assert events(app, kind="updated") == []


def test_a_first_load_whose_query_cursor_expires_between_pages_still_mirrors_everything(sync_app, devorg,
                                                                                       monkeypatch):
    from salesforce import gateway_for
    from salesforce.errors import ValidationError

    for n in range(1_500):
        devorg.insert("Lead", LastName=f"会員{n:04d}", Company="生協")
    gateway = gateway_for(sync_app)
    query_page = gateway.query_page
    expired = []

    def slow_reader(soql_or_next_url, *args, **kwargs):
        # The sync takes over 15 minutes (of the org's clock) before asking for each next page:
        # Salesforce releases a query locator after 15 minutes without use.
        if soql_or_next_url.startswith("/services/data/"):
            devorg.set_clock_offset(devorg.store.clock_offset + timedelta(minutes=16))
        try:
            return query_page(soql_or_next_url, *args, **kwargs)
        except ValidationError as exc:
            expired.append(exc.error_code)
            raise

    monkeypatch.setattr(gateway, "query_page", slow_reader)
    ok(run_cycle(sync_app))
    assert expired and set(expired) == {"INVALID_QUERY_LOCATOR"}
    assert_mirror_equals_org(sync_app, devorg, "Lead")
    created = events(sync_app, kind="created", object_name="Lead")
    assert len(created) == 1_500 and len({e[1] for e in created}) == 1_500


@pytest.mark.slow
def test_initial_load_of_ten_thousand_records_costs_about_one_call_per_two_thousand(make_app, devorg):
    app = make_app(**devorg.app_settings(), sync_objects=("Lead",), sync_bulk_threshold=0)
    for n in range(10_000):
        devorg.insert("Lead", LastName=f"会員{n:05d}", Company="生協", Email=f"m{n}@example.jp")
    devorg.set_short_pages(False)  # the cost of full pages; short ones are tested everywhere else
    before = devorg.api_calls
    result = run_cycle(app)
    ok(result)
    # describe (1, composite) + probe (1, composite) + 10,000 / 2,000 pages = 7
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
