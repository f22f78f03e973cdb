"""The shared `live_server` and `browser` fixtures work together (and close cleanly)."""

import pytest


@pytest.mark.browser
def test_browser_fetches_a_page_from_the_live_server(browser, live_server, app):
    server = live_server(app)
    page = browser.new_page()
    response = page.goto(server.url + "/healthz")
    assert response.status == 200
    assert '"status"' in page.content()


@pytest.mark.browser
def test_phone_sized_pages_get_their_own_context(browser, live_server, app):
    server = live_server(app)
    desktop = browser.new_page()
    phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone.goto(server.url + "/healthz")
    assert phone.viewport_size == {"width": 390, "height": 844}
    assert phone.context is not desktop.context
