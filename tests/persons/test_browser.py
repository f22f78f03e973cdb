"""The person page and the sent-mail log in a real Chromium: the admin searches the log, follows
the name to the person page, and both pages pass the CSP (no console errors). Screenshots for docs."""

from __future__ import annotations

import pytest

import db
from people.service import create_user
from tests.fixtures.app import TEST_PASSWORD
from tests.fixtures.browser import console_errors, keep_screenshot, log_in
from tests.persons.seed import seed_person

pytestmark = [pytest.mark.browser, pytest.mark.slow]

def test_admin_finds_a_mail_in_the_log_and_follows_the_name_to_the_person_page(app, browser, live_server):
    with db.get_db(app).transaction() as session:
        create_user(session, "persons@example.jp", "admin", TEST_PASSWORD)
        hanako = seed_person(session)
    server = live_server(app)
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    problems = console_errors(page)
    log_in(page, server, "persons@example.jp")
    page.goto(server.url + "/admin/mail/log")
    page.fill("input[name=address]", "hanako@example.jp")
    page.click("form.mail-log-search button[type=submit]")
    page.wait_for_url("**address=hanako%40example.jp**")
    assert page.locator("table.mail-log tbody tr").count() == 2
    keep_screenshot(page, "mail-log.png")
    page.locator("table.mail-log a.person").first.click()
    page.wait_for_url(f"{server.url}/people/{hanako}")
    assert page.locator("h1").inner_text().startswith("山田 花子")
    assert page.locator("table.timeline tbody tr").count() == 11
    assert page.locator("dl.person-card dt").first.bounding_box()["y"] == \
        page.locator("dl.person-card dd").first.bounding_box()["y"]  # the card's grid is styled (CSP allows it)
    keep_screenshot(page, "person-page.png")
    assert problems == []
