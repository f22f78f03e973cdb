"""enqueue: one item per key, even when two transactions race with the same key."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

import db
from writeback.models import WritebackItem
from writeback.policy import KEY_FIELD_LENGTH, key_value
from writeback.queue import enqueue


def _count(app) -> int:
    with db.get_db(app).transaction() as session:
        return session.scalar(select(func.count()).select_from(WritebackItem))


def test_the_same_key_enqueued_twice_is_one_item(app):
    with db.get_db(app).transaction() as session:
        first = enqueue(session, key="form:1", object_name="Lead", operation="create", fields={"LastName": "A"})
        again = enqueue(session, key="form:1", object_name="Lead", operation="create", fields={"LastName": "A"})
        assert again.id == first.id
    assert _count(app) == 1


def test_two_transactions_racing_with_one_key_make_one_item(app):
    database = db.get_db(app)
    inside = threading.Event()
    results: dict[str, int] = {}
    errors: list[BaseException] = []

    def second() -> None:
        try:
            inside.wait(10)
            with database.transaction() as session:
                results["second"] = enqueue(session, key="dbl", object_name="Lead", operation="create",
                                            fields={"LastName": "B"}).id
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=second)
    thread.start()
    with database.transaction() as session:
        results["first"] = enqueue(session, key="dbl", object_name="Lead", operation="create",
                                   fields={"LastName": "A"}).id
        inside.set()  # the other transaction now tries the same key before we commit
        thread.join(0.3)
    thread.join(10)

    assert not errors, errors
    assert results["first"] == results["second"]
    assert _count(app) == 1


@pytest.mark.db_independent
def test_a_key_longer_than_the_salesforce_field_is_written_as_a_stable_digest():
    long_key = "automation:42:step:7:" + "x" * 100
    assert len(key_value(long_key)) == KEY_FIELD_LENGTH
    assert key_value(long_key) == key_value(long_key)
    assert key_value("form:1") == "form:1"


def test_an_update_without_a_record_id_is_refused(app):
    with db.get_db(app).transaction() as session, pytest.raises(ValueError, match="record_id"):
        enqueue(session, key="u", object_name="Lead", operation="update", fields={})
