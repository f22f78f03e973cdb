"""The shell in a real Chromium: keyboard-only sign-in and navigation, and a phone-sized layout."""

from __future__ import annotations

import pytest

import db
from people.service import create_user
from tests.fixtures.app import TEST_PASSWORD
from tests.fixtures.browser import page_until, signed_in_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_keyboard_only_sign_in_and_skip_link(app, browser, live_server):
    with db.get_db(app).transaction() as session:
        create_user(session, "kb@example.jp", "admin", TEST_PASSWORD)
    server = live_server(app)
    page = browser.new_page()
    page.goto(server.url + "/login")
    # The email field has focus on arrival (Chromium applies autofocus just after load, so wait
    # for it rather than race it): type, Tab, type, Enter — no mouse.
    page_until(page, "document.activeElement && document.activeElement.name === 'email'")
    page.keyboard.type("kb@example.jp")
    page.keyboard.press("Tab")
    page.keyboard.type(TEST_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(server.url + "/")
    assert page.locator("h1").inner_text() == "管理 ホーム"
    # On a page without autofocus the first Tab lands on the skip link, visible while focused.
    page.wait_for_load_state("load")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.outerHTML")
    assert page.evaluate("document.activeElement.textContent") == "本文へ移動", focused
    assert page.locator("a.skip").bounding_box()["x"] >= 0
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    # Tab through the page until the users link has focus, then follow it with Enter.
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.getAttribute('href')") == "/admin/users":
            break
    else:
        pytest.fail("the users link is not reachable with Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # focus is visible
    page.keyboard.press("Enter")
    page.wait_for_url(server.url + "/admin/users")
    assert "kb@example.jp" in page.locator("table").inner_text()


def test_phone_sized_page_has_no_horizontal_scroll_and_big_targets(app, browser, live_server):
    server = live_server(app)
    page = signed_in_page(app, browser, server, "sales", "phone@example.jp",
                          viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    heights = page.evaluate("[...document.querySelectorAll('header a, header button, main a, main button')]"
                            ".filter(e => e.offsetParent).map(e => e.getBoundingClientRect().height)")
    assert heights and min(heights) >= 40
