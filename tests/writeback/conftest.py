"""Write-back tests run the real stack: the worker, the gateway over HTTPS, and the dev org."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update

import db
from salesforce import gateway_for
from writeback.models import WritebackItem
from writeback.queue import enqueue
from writeback.worker import process_due


@pytest.fixture
def wb_app(make_app: Callable[..., Flask], devorg: Any) -> Flask:
    """An app whose gateway talks to the dev org and never sleeps between retries."""
    return make_app(**devorg.app_settings(), config={"SALESFORCE_GATEWAY_OPTIONS": {"backoff_seconds": 0}})


def add(app: Flask, **kwargs: Any) -> int:
    """Enqueue one item in its own committed transaction; returns its id."""
    with db.get_db(app).transaction() as session:
        return enqueue(session, **kwargs).id


def make_due(app: Flask) -> None:
    """Time passes: every queued item's back-off is over (tests do not sleep through back-off)."""
    with db.get_db(app).transaction() as session:
        session.execute(update(WritebackItem).where(WritebackItem.status == "queued").values(due_at=db.utcnow()))


def drain(app: Flask, worker_id: str = "w1", passes: int = 20) -> int:
    """Run worker passes (back-off skipped) until nothing is queued or running; returns passes used."""
    for n in range(1, passes + 1):
        make_due(app)
        process_due(app, worker_id)
        if not pending(app):
            return n
    raise AssertionError(f"write-back still pending after {passes} passes: {items(app)}")


def pending(app: Flask) -> int:
    """Items queued or running."""
    return sum(1 for item in items(app) if item.status in ("queued", "running"))


def items(app: Flask) -> list[WritebackItem]:
    """Every item, in id order."""
    with db.get_db(app).transaction() as session:
        return list(session.scalars(select(WritebackItem).order_by(WritebackItem.id)))


def api_calls(app: Flask) -> int:
    """API calls the app's gateway has made so far."""
    return gateway_for(app).usage.calls
