"""The write-back worker against the dev org: batching, order, faults, and never twice."""

from __future__ import annotations

import pytest
from sqlalchemy import select

import db
from salesforce import gateway_for
from sync.models import MirrorRecord
from writeback.worker import process_due

from .conftest import add, api_calls, drain, items, make_due


def contact(n: int, **extra):
    return {"key": f"test:contact:{n}", "object_name": "Contact", "operation": "create",
            "fields": {"LastName": f"山田{n}", "FirstName": "花子", **extra}, "origin": "test"}


def task(n: int, **fields):
    return {"key": f"test:task:{n}", "object_name": "Task", "operation": "create",
            "fields": {"Subject": f"電話受付 {n}", "Status": "Completed", **fields}, "origin": "test"}


def _killed_in(wb_app, monkeypatch, step: str, when: str) -> None:
    """Worker w1 runs and is killed (KeyboardInterrupt) in writeback.worker's `step`, `when`."""
    import writeback.worker as worker

    def killed(*_args, **_kwargs):
        raise KeyboardInterrupt(f"worker killed {when}")

    monkeypatch.setattr(worker, step, killed)
    with pytest.raises(KeyboardInterrupt):
        process_due(wb_app, "w1")
    monkeypatch.undo()


def test_450_queued_creates_go_out_in_3_collection_calls(wb_app, devorg):
    for n in range(450):
        add(wb_app, **contact(n))
    gateway_for(wb_app)  # sign in first, so only the writes are counted

    drain(wb_app)

    assert api_calls(wb_app) == 3
    assert sorted(r["LastName"] for r in devorg.records("Contact")) == sorted(f"山田{n}" for n in range(450))
    assert {i.status for i in items(wb_app)} == {"written"}


def test_a_written_record_shows_in_the_mirror_at_once_as_our_own_write(wb_app, devorg):
    add(wb_app, **contact(1))
    drain(wb_app)

    written = items(wb_app)[0]
    with db.get_db(wb_app).transaction() as session:
        mirrored = session.get(MirrorRecord, written.result_id)
        assert mirrored is not None
        assert mirrored.last_source == "writeback"
        assert mirrored.fields["LastName"] == "山田1"


def test_a_task_referencing_a_new_contact_is_written_after_it_with_its_id(wb_app, devorg):
    with db.get_db(wb_app).transaction() as session:
        from writeback.queue import enqueue

        parent = enqueue(session, **contact(1))
        enqueue(session, depends_on=parent, **task(1, WhoId={"$ref": parent.id}))

    drain(wb_app)

    [org_contact] = devorg.records("Contact")
    [org_task] = devorg.records("Task")
    assert org_task["WhoId"] == org_contact["Id"]


def test_a_503_then_success_leaves_exactly_one_record_of_each(wb_app, devorg):
    add(wb_app, **contact(1))
    add(wb_app, **task(1))
    devorg.inject_fault(r"composite/sobjects", "503", count=2)

    drain(wb_app)

    assert len(devorg.records("Contact")) == 1
    assert len(devorg.records("Task")) == 1
    assert {i.status for i in items(wb_app)} == {"written"}


@pytest.mark.slow
@pytest.mark.parametrize("object_name", ["Contact", "Task"])
def test_a_create_whose_answer_was_lost_is_not_made_twice(make_app, devorg, object_name):
    app = make_app(**devorg.app_settings(), salesforce_timeout_seconds=0.5,
                   config={"SALESFORCE_GATEWAY_OPTIONS": {"backoff_seconds": 0}})
    add(app, **(contact(1) if object_name == "Contact" else task(1)))
    # Salesforce takes 1.5 s and commits; our client gave up after 0.5 s.
    devorg.inject_fault(r"composite/sobjects", "slow", count=1, delay=1.5)

    process_due(app, "w1")
    if object_name == "Task":  # a create cannot be re-sent blindly: it waits to be checked
        assert items(app)[0].status == "queued"
    _wait_for(lambda: len(devorg.records(object_name)) == 1)
    drain(app)

    [record] = devorg.records(object_name)
    assert items(app)[0].status == "written"
    assert items(app)[0].result_id == record["Id"]


def test_limit_exceeded_pauses_the_queue_and_later_everything_arrives_once(wb_app, devorg):
    for n in range(3):
        add(wb_app, **contact(n))
    devorg.inject_fault(r"composite/sobjects", "limit_exceeded", count=1)

    assert process_due(wb_app, "w1") == 3
    assert {i.status for i in items(wb_app)} == {"queued"}
    make_due(wb_app)
    assert process_due(wb_app, "w1") == 0  # paused: nothing claimed, nothing sent
    assert devorg.records("Contact") == []

    gateway_for(wb_app).resume()  # the pause is over
    drain(wb_app)
    assert len(devorg.records("Contact")) == 3


def test_a_worker_killed_after_salesforce_wrote_does_not_cause_a_second_write(wb_app, devorg, monkeypatch):
    for n in range(3):
        add(wb_app, **contact(n))
        add(wb_app, **task(n))
    _killed_in(wb_app, monkeypatch, "apply_outcomes", "before recording the outcome")
    assert {i.status for i in items(wb_app)} == {"running"}
    _expire_leases(wb_app)

    drain(wb_app, worker_id="w2")

    assert len(devorg.records("Contact")) == 3
    assert len(devorg.records("Task")) == 3
    assert {i.status for i in items(wb_app)} == {"written"}
    assert len({i.result_id for i in items(wb_app)}) == 6


def test_a_worker_killed_before_sending_leaves_work_another_worker_completes(wb_app, devorg, monkeypatch):
    for n in range(2):
        add(wb_app, **task(n))
    _killed_in(wb_app, monkeypatch, "_send", "before sending")
    _expire_leases(wb_app)

    drain(wb_app, worker_id="w2")

    assert sorted(t["Subject"] for t in devorg.records("Task")) == ["電話受付 0", "電話受付 1"]


def test_an_update_and_a_delete_reach_the_org(wb_app, devorg):
    keep = devorg.insert("Contact", LastName="佐藤")
    gone = devorg.insert("Contact", LastName="鈴木")
    add(wb_app, key="u1", object_name="Contact", operation="update", record_id=keep, fields={"Absent__c": True})
    add(wb_app, key="d1", object_name="Contact", operation="delete", record_id=gone, fields={})

    drain(wb_app)

    assert devorg.get("Contact", keep)["Absent__c"] is True
    assert [r["Id"] for r in devorg.records("Contact")] == [keep]


def _expire_leases(app):
    from sqlalchemy import update

    from writeback.models import WritebackItem

    with db.get_db(app).transaction() as session:
        session.execute(update(WritebackItem).values(locked_until=db.utcnow()))


def _wait_for(condition, timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def test_items_wait_in_the_queue_when_no_org_is_reachable(app):
    add(app, **contact(1))
    assert process_due(app, "w1") == 0
    with db.get_db(app).transaction() as session:
        from writeback.models import WritebackItem

        assert session.scalar(select(WritebackItem.status)) == "queued"


def test_one_refused_record_fails_alone_and_the_rest_of_its_batch_is_written(wb_app, devorg):
    add(wb_app, **contact(1))
    add(wb_app, **contact(2, Nope__c="x"))
    add(wb_app, **contact(3))

    drain(wb_app)

    assert [(i.status, i.error_code) for i in items(wb_app)] == [
        ("written", None), ("failed", "INVALID_FIELD"), ("written", None)]
    assert "Nope__c" in items(wb_app)[1].error_message
    assert sorted(r["LastName"] for r in devorg.records("Contact")) == ["山田1", "山田3"]


def test_looking_for_an_earlier_create_reads_the_one_describe_cache(wb_app, devorg):
    """Which fields a search for an earlier create may name comes from the org's describe cache:
    described once (and kept for sync and the forms), not once per worker batch."""
    from datetime import timedelta

    from salesforce import describe as describes
    from writeback.policy import Matcher

    database = db.get_db(wb_app)
    since = db.utcnow() - timedelta(minutes=5)
    body = {"Subject": "電話受付", "Status": "Completed", "Description": "長いメモ"}
    with wb_app.app_context():
        before = api_calls(wb_app)
        assert Matcher(gateway_for(wb_app), database).candidates("Task", body, None, since) == []
        first = api_calls(wb_app) - before  # the describe, then the search
        with database.transaction() as session:
            facts = describes.fields_of(session, "Task")
        assert facts["Subject"]["filterable"] and not facts["Description"]["filterable"]

        before = api_calls(wb_app)
        assert Matcher(gateway_for(wb_app), database).candidates("Task", body, None, since) == []
        assert api_calls(wb_app) - before == 1 == first - 1  # the search alone: the cache answered
