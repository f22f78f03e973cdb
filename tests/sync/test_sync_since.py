"""SYNC_SINCE: the first load of Task and Event reads only that many days back (by the org's clock)."""

from __future__ import annotations

from datetime import timedelta

from sync.cycle import run_cycle

from .test_cycle import dump, ok, time_passes


def stamped(devorg, days_ago: int, object_name: str, **fields) -> str:
    """A record whose SystemModstamp is `days_ago` days before the org's time now."""
    devorg.set_clock(devorg.now() - timedelta(days=days_ago))
    try:
        return devorg.insert(object_name, **fields)
    finally:
        devorg.set_clock(None)


def test_the_first_load_mirrors_recent_tasks_only_and_leads_of_any_age(make_app, devorg):
    app = make_app(**devorg.app_settings(), sync_objects=("Lead", "Task"), sync_since_days=30)
    # The org's clock runs 60 days behind the host's: the window must follow the org's.
    devorg.set_clock_offset(timedelta(days=-60))
    old_task = stamped(devorg, 40, "Task", Subject="四十日前の訪問", Status="Completed")
    new_task = stamped(devorg, 20, "Task", Subject="二十日前の訪問", Status="Completed")
    old_lead = stamped(devorg, 400, "Lead", LastName="佐藤", Company="(株)古参")
    ok(run_cycle(app))
    assert set(dump(app, "Task")) == {new_task}
    assert set(dump(app, "Lead")) == {old_lead}

    # A later change to the old Task gives it a new SystemModstamp: the poll window brings it.
    devorg.update("Task", old_task, Status="Not Started")
    time_passes(app, devorg)
    ok(run_cycle(app))
    mirrored = dump(app, "Task")
    assert set(mirrored) == {old_task, new_task}
    assert mirrored[old_task]["Status"] == "Not Started"


def test_sync_since_zero_loads_every_task(make_app, devorg):
    app = make_app(**devorg.app_settings(), sync_objects=("Task",), sync_since_days=0)
    ancient = stamped(devorg, 3000, "Task", Subject="八年前の訪問", Status="Completed")
    ok(run_cycle(app))
    assert set(dump(app, "Task")) == {ancient}


def test_a_bulk_first_load_of_tasks_reads_the_same_window(make_app, devorg):
    app = make_app(**devorg.app_settings(), sync_objects=("Task",), sync_since_days=30, sync_page_size=200,
                   sync_bulk_threshold=100,
                   config={"SALESFORCE_GATEWAY_OPTIONS": {"max_retries": 0, "backoff_seconds": 0.01}})
    old_task = stamped(devorg, 31, "Task", Subject="先月の訪問", Status="Completed")
    recent = {devorg.insert("Task", Subject=f"訪問{n:03d}", Status="Completed") for n in range(250)}
    ok(run_cycle(app))
    assert [j["object"] for j in devorg.bulk_jobs()] == ["Task"]
    assert set(dump(app, "Task")) == recent
    assert old_task not in dump(app, "Task")
