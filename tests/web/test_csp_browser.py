"""The Content-Security-Policy in a real Chromium: every page still works, injected script does not run."""

from __future__ import annotations

import pytest

import db as dbmod
from mail.templates import save_template
from people.service import create_user
from tests.fixtures.app import TEST_PASSWORD
from tests.fixtures.browser import console_errors, log_in, page_until
from tests.forms.conftest import load_examples
from tests.scoring.people import add_records, lead_id

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ADMIN_PAGES = ["/", "/admin/users", "/admin/audit", "/admin/mail/", "/admin/mail/templates",
               "/admin/mail/templates/styled", "/admin/mail/suppressions", "/admin/automations/",
               "/admin/automations/segments/new", "/admin/scoring", "/admin/reports/",
               "/admin/reports/deliverability", "/admin/reports/data-quality", "/admin/writeback",
               "/forms/admin/", "/f/materials_request"]


def watch(page) -> list[str]:
    """Every CSP violation and script error the page reports, as it happens."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    return problems


def sign_in(app, browser, server, role: str):
    email = f"{role}-csp@example.jp"
    with dbmod.get_db(app).transaction() as session:
        create_user(session, email, role, TEST_PASSWORD)
    page = browser.new_page()
    problems = watch(page)
    return log_in(page, server, email), problems


@pytest.fixture
def served(app, live_server):
    load_examples(app)
    with dbmod.get_db(app).transaction() as session:
        save_template(session, key="styled", name="装飾あり", subject="お知らせ",
                      html="<style>p{color:#c00}</style>"
                           "<p style=\"font-weight:bold\">{{ person.LastName | default('お客') }} 様</p>")
        add_records(session, "Lead", {"Id": lead_id(1), "LastName": "山田", "FirstName": "花子",
                                      "LastNameKana__c": "ヤマダ", "Phone": "090-1111-2222", "Company": "個人"})
    return app, live_server(app)


def test_admin_pages_load_with_no_policy_violation(served, browser):
    app, server = served
    page, problems = sign_in(app, browser, server, "admin")
    for path in ADMIN_PAGES:
        response = page.goto(server.url + path)
        assert response.status == 200, path
        assert "Content-Security-Policy" in response.headers or "content-security-policy" in response.headers
    assert problems == []
    # The report layout's styles moved to app.css: the report navigation is still a flex row.
    page.goto(server.url + "/admin/reports/")
    assert page.eval_on_selector(".report-nav", "e => getComputedStyle(e).display") == "flex"


def test_a_mail_preview_shows_the_mail_s_own_styles(served, browser):
    app, server = served
    page, problems = sign_in(app, browser, server, "admin")
    page.goto(server.url + "/admin/mail/templates/styled")
    page.click("button[name=action][value=preview]")
    frame = page.frame_locator("iframe.mail-frame")
    color = frame.locator("p").first.evaluate("e => getComputedStyle(e).color")
    assert color == "rgb(204, 0, 0)"
    assert problems == []


def test_the_operator_lookup_still_works_under_the_policy(served, browser):
    app, server = served
    page, problems = sign_in(app, browser, server, "operator")
    page.goto(server.url + "/forms/trial_set")
    page_until(page, "document.activeElement && document.activeElement.id === 'lookup'")  # autofocus
    page.keyboard.type("0901111")
    page.wait_for_selector("#lookup-results [role=option]")
    assert "山田" in page.locator("#lookup-results").inner_text()
    assert problems == []


def test_a_script_injected_into_a_page_does_not_run(served, browser):
    _app, server = served
    page = browser.new_page()
    problems = watch(page)
    page.goto(server.url + "/login")
    # As if escaping had been missed somewhere: markup with an inline script and a handler lands in the page.
    page.evaluate("""() => {
        const s = document.createElement('script'); s.textContent = 'window.pwned = 1'; document.body.append(s);
        document.body.insertAdjacentHTML('beforeend', '<img src="data:," onerror="window.pwned2 = 1">');
    }""")
    page.wait_for_timeout(200)
    assert page.evaluate("() => [window.pwned, window.pwned2]") == [None, None]
    assert any("Content Security Policy" in p for p in problems)


def test_the_sign_in_page_logs_no_console_error_not_even_for_the_tab_icon(served, browser):
    # Browsers ask for an icon on every first visit; a 404 there is a red console error for every user.
    _app, server = served
    page = browser.new_page()
    errors = console_errors(page)
    page.goto(server.url + "/login")
    page.wait_for_load_state("networkidle")
    icon = page.eval_on_selector("link[rel=icon]", "e => e.href")
    assert page.request.get(icon).status == 200
    page.goto(server.url + "/livez")  # a JSON answer links no icon: the browser asks for /favicon.ico
    page.wait_for_load_state("networkidle")
    assert errors == []
