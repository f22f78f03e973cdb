"""Shared helpers for forms tests that run the real write-back against the dev org."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

from flask import Flask
from sqlalchemy import select, update

import db as dbmod
from forms.models import Submission
from people.service import create_user
from tests.fixtures.app import TEST_PASSWORD
from tests.fixtures.browser import page_until
from writeback.models import WritebackItem

# Short retries so fault tests finish quickly; the limit pause is the shortest the gateway allows.
GATEWAY_OPTIONS = {"max_retries": 0, "backoff_seconds": 0.01, "limit_pause_seconds": 1}


def org_app(make_app: Callable[..., Flask], devorg: Any, **settings: Any) -> Flask:
    """An app connected to the dev org, with the example forms loaded."""
    from tests.forms.conftest import load_examples

    app = make_app(config={"SALESFORCE_GATEWAY_OPTIONS": GATEWAY_OPTIONS}, **devorg.app_settings(), **settings)
    load_examples(app)
    return app


def token_of(html: str) -> str:
    """The idempotency token rendered into a form page."""
    return re.search(r'name="_token" value="([0-9a-f]{32})"', html).group(1)


def work_until(app: Flask, done: Callable[[], bool], timeout: float = 15.0) -> None:
    """Run worker passes until `done()` holds (fail after `timeout` seconds)."""
    from work.worker import work_once

    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError("work did not finish in time")
        if not work_once(app, "test-worker"):
            time.sleep(0.05)


def submissions(app: Flask) -> list[Submission]:
    """Every submission, oldest first."""
    with dbmod.get_db(app).transaction() as session:
        return list(session.scalars(select(Submission).order_by(Submission.id)))


def items(app: Flask) -> list[WritebackItem]:
    """Every write-back item, oldest first."""
    with dbmod.get_db(app).transaction() as session:
        return list(session.scalars(select(WritebackItem).order_by(WritebackItem.id)))


def all_status(app: Flask, status: str) -> Callable[[], bool]:
    """A condition: every submission has `status`."""
    return lambda: bool(subs := submissions(app)) and all(s.status == status for s in subs)


def time_passes(app: Flask) -> None:
    """Make every queued write-back item due now (as if its back-off had elapsed)."""
    with dbmod.get_db(app).transaction() as session:
        session.execute(update(WritebackItem).where(WritebackItem.status == "queued")
                        .values(due_at=dbmod.utcnow()))


def signed_in_page(app: Flask, browser: Any, server: Any, role: str, *, email: str, name: str = "",
                   **page_options: Any) -> Any:
    """A new browser page signed in as a new user `email` with `role` (on the home page)."""
    with dbmod.get_db(app).transaction() as session:
        create_user(session, email, role, TEST_PASSWORD, name=name)
    page = browser.new_page(**page_options)
    page.goto(server.url + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/")
    return page


def lookup_rows(page: Any, typed: str) -> list[str]:
    """Type `typed` into the cleared customer look-up and read the rows shown for exactly that text.

    Typing key by key on a loaded machine sends a search for a prefix too ("mem" of
    "member-000123"): the rows are read only once the list answers the whole text.
    """
    page.fill("#lookup", "")
    page.keyboard.type(typed)
    page_until(page, f"document.getElementById('lookup-results').dataset.query === {json.dumps(typed)}")
    return page.locator("#lookup-results [role=option]").all_inner_texts()
