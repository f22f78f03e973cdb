"""Issue 15 case 7 in a real Chromium: the admin reads a form's submissions and the sync status in
Tokyo time and Japanese words, and follows a customer's name to her page (no Salesforce id to decode)."""

from __future__ import annotations

import pytest

import db
from people.service import create_user
from tests.fixtures.app import TEST_PASSWORD
from tests.fixtures.browser import console_errors, log_in
from tests.forms.conftest import load_examples
from tests.persons.seed import seed_person
from tests.web.test_every_page_walk import AT, LOCAL, problems, visible_text

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_admin_reads_submissions_and_sync_in_local_time_and_words_then_opens_the_person(app, browser, live_server):
    from forms.models import Submission
    from sync.models import SyncRun

    load_examples(app)
    with db.get_db(app).transaction() as session:
        create_user(session, "times@example.jp", "admin", TEST_PASSWORD)
        hanako = seed_person(session)
        session.add(Submission(idempotency_key="browser-1", form_key="trial_set", person_id=hanako, status="pending",
                               data={"LastName": "山田", "FirstName": "花子", "Rating": "Hot"},
                               created_at=AT, updated_at=AT))
        session.add(SyncRun(started_at=AT, finished_at=AT, outcome="ok", api_calls=2, records=5))
    server = live_server(app)
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    console = console_errors(page)
    log_in(page, server, "times@example.jp")

    page.goto(server.url + "/forms/admin/trial_set/submissions")
    row = page.locator("table.submissions tbody tr").first
    cells = [" ".join(c.split()) for c in row.locator("td").all_inner_texts()]
    assert cells[1] == LOCAL  # 23:30 UTC is 08:30 the next morning in Tokyo
    assert cells[2] == "書き込み待ち" and "高い" in cells[3] and cells[4] == "山田 花子"
    assert not problems(visible_text(page.content()), {hanako: "山田 花子"})

    page.goto(server.url + "/admin/sync")
    assert f"最後の同期サイクル: {LOCAL} — 成功" in " ".join(page.locator("main p").first.inner_text().split())

    page.goto(server.url + "/forms/admin/trial_set/submissions")
    page.locator("table.submissions a.person").first.click()
    page.wait_for_url(f"{server.url}/people/{hanako}")
    assert page.locator("h1").inner_text().startswith("山田 花子")
    assert console == []
