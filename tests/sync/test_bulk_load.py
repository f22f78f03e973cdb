"""First loads through one Bulk API 2.0 job: the mirror holds exactly what a REST load would."""

from __future__ import annotations

from datetime import date

import pytest

from db import get_db
from salesforce import gateway_for
from sync import describe
from sync.cycle import run_cycle
from sync.describe import select_list
from sync.values import flatten

from .test_cycle import assert_mirror_equals_org, dump, events, ok, time_passes

TRICKY = '株式会社サンプル, "本店"\n二行目'  # a comma, quotes and a newline inside one CSV field


@pytest.fixture
def bulk_app(make_app, devorg):
    return make_app(**devorg.app_settings(), sync_objects=("Account", "Contact"), sync_page_size=200,
                    sync_bulk_threshold=1000,
                    config={"SALESFORCE_GATEWAY_OPTIONS": {"max_retries": 0, "backoff_seconds": 0.01}})


def fill(devorg, contacts: int = 1100) -> dict[str, str]:
    """Accounts of every field shape and `contacts` contacts, some with an account, one deleted."""
    accounts = {
        "full": devorg.insert("Account", Name=TRICKY, NumberOfEmployees=120, AnnualRevenue=35000000,
                              Description="説明,\"引用\"\r\n改行あり", Website="https://example.jp/?a=1,b=2"),
        "empty": devorg.insert("Account", Name="空の会社"),
    }
    for n in range(contacts):
        devorg.insert("Contact", LastName=f"山田{n:04d}", FirstName="太郎" if n % 2 else None,
                      AccountId=accounts["full"] if n % 3 == 0 else None,
                      HasOptedOutOfEmail=n % 4 == 0, Score__c=n * 1.5 if n % 5 else None,
                      Birthdate=date(1980, 1, 1 + n % 28) if n % 7 == 0 else None,
                      Email=f"t{n}@example.jp", Description=TRICKY if n % 10 == 0 else None)
    gone = devorg.insert("Contact", LastName="削除済み")
    devorg.delete("Contact", gone)
    return {**accounts, "gone": gone}


def rest_view(app, devorg, object_name: str) -> dict[str, dict]:
    """Every record (deleted too) as a REST queryAll load would store it."""
    with get_db(app).transaction() as session:
        types = describe.field_types(session, [object_name])[object_name]
    soql = f"SELECT {', '.join(select_list(object_name, types))} FROM {object_name}"
    return {r["Id"]: flatten(r) for r in gateway_for(app).query_all(soql)}


def test_a_large_first_load_uses_one_bulk_job_and_mirrors_exactly_what_rest_would(bulk_app, devorg):
    made = fill(devorg)
    before = devorg.api_calls
    result = run_cycle(bulk_app)
    ok(result)
    calls = devorg.api_calls - before
    jobs = devorg.bulk_jobs()
    assert [(j["object"], j["operation"], j["records"]) for j in jobs] == [("Contact", "queryAll", 1101)]
    # describe + probe (updated windows) + first pages (their totalSize decides) + create job + poll + one
    # result set; REST pages would need 5 more at least.
    assert calls == result.api_calls == 6
    for name in ("Account", "Contact"):
        assert_mirror_equals_org(bulk_app, devorg, name)
    mirror = dump(bulk_app, "Contact", include_deleted=True)
    expected = rest_view(bulk_app, devorg, "Contact")
    assert mirror.keys() == expected.keys() and made["gone"] in mirror
    for sf_id, fields in expected.items():
        assert mirror[sf_id] == fields, sf_id
    shapes = {("Account.Name" in r, "Account" in r) for r in mirror.values()}
    assert shapes == {(True, False), (False, True)}  # parent name, or a null relationship as REST gives
    assert {r["Account.Name"] for r in mirror.values() if "Account.Name" in r} == {TRICKY}
    created = events(bulk_app, kind="created", object_name="Contact")
    assert len(created) == 1100 and len({e[1] for e in created}) == 1100
    total = len(events(bulk_app))
    ok(run_cycle(bulk_app))  # the next REST cycle re-reads the overlap: nothing changed, no events
    assert len(events(bulk_app)) == total
    assert len(devorg.bulk_jobs()) == 1


def test_changes_after_a_bulk_load_arrive_through_the_following_rest_cycle(bulk_app, devorg):
    fill(devorg)
    ok(run_cycle(bulk_app))
    first = len(events(bulk_app))
    changed = devorg.records("Contact")[7]["Id"]
    devorg.update("Contact", changed, Email="new@example.jp")
    added = devorg.insert("Contact", LastName="新規")
    time_passes(bulk_app, devorg)
    ok(run_cycle(bulk_app))
    new = events(bulk_app)[first:]
    assert sorted((e[0], e[1], e[2]) for e in new) == sorted([("updated", changed, "Email"),
                                                              ("created", added, None)])
    assert_mirror_equals_org(bulk_app, devorg, "Contact")


@pytest.mark.parametrize("how", ["unsupported", "failed", "503"])
def test_without_a_usable_bulk_api_the_first_load_falls_back_to_rest(bulk_app, devorg, how):
    fill(devorg)
    if how == "unsupported":
        devorg.set_bulk_api(enabled=False)
    elif how == "failed":
        devorg.set_bulk_api(fail_with="InternalServerError: query timed out")
    else:
        devorg.inject_fault(r"/jobs/query", "503", method="POST")
    result = run_cycle(bulk_app)
    if how == "503":  # a 5xx is transient: the cycle stops and the next one loads again
        assert result.outcome == "failed"
        ok(run_cycle(bulk_app))
    else:
        ok(result)
    for name in ("Account", "Contact"):
        assert_mirror_equals_org(bulk_app, devorg, name)
    created = events(bulk_app, kind="created", object_name="Contact")
    assert len(created) == 1100 and len({e[1] for e in created}) == 1100


def test_a_job_that_takes_a_while_is_polled_until_complete(bulk_app, devorg):
    fill(devorg)
    devorg.set_bulk_api(delay_seconds=1.5)
    ok(run_cycle(bulk_app))
    assert [j["state"] for j in devorg.bulk_jobs()] == ["JobComplete"]
    assert_mirror_equals_org(bulk_app, devorg, "Contact")


def test_a_load_below_the_threshold_or_with_bulk_disabled_reads_rest_pages(make_app, devorg):
    fill(devorg, contacts=600)
    app = make_app(**devorg.app_settings(), sync_objects=("Contact",), sync_page_size=200, sync_bulk_threshold=0)
    ok(run_cycle(app))
    assert devorg.bulk_jobs() == []
    assert_mirror_equals_org(app, devorg, "Contact")
