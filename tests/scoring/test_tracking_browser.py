"""The tracking snippet on a customer's own site (another origin), in a real Chromium."""

from __future__ import annotations

import re
import time

import pytest
from flask import Flask
from sqlalchemy import select

import db
from activity.models import Activity
from scoring import tracking
from scoring.models import TrackingVisitor
from tests.scoring.people import lead_id

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Headless Chromium says "HeadlessChrome" and is rightly dropped as a bot; people's browsers do not.
DESKTOP = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"


def customer_site(tsunagi_url: str) -> Flask:
    """A customer's site that embeds the snippet; one form carries the visitor id, one link opens
    tsunagi's public form and one another site's, and /embed frames the public form."""
    site = Flask("customer_site")

    @site.route("/<path:page>")
    def page(page: str) -> str:
        frame = f"<iframe id='framed' src='{tsunagi_url}/f/materials_request'></iframe>" if page == "embed" else ""
        return (f"<!doctype html><html><head><meta charset='utf-8'><title>{page} | 生協</title></head><body>"
                f"<h1>{page}</h1><form><input type='hidden' name='tsunagi_vid'></form>"
                f"<a id='apply' href='{tsunagi_url}/f/materials_request?from=top#entry'>資料請求</a>"
                f"<a id='elsewhere' href='https://forms.example.org/f/materials_request'>他社</a>{frame}"
                f"<script async src='{tsunagi_url}/t/t.js'></script></body></html>")

    site.config["TESTING"] = True
    return site


def wait_for_page_views(app, count: int, timeout: float = 10.0) -> list[Activity]:
    deadline = time.monotonic() + timeout
    while True:
        with db.get_db(app).transaction() as s:
            rows = list(s.scalars(select(Activity).where(Activity.kind == "page_view").order_by(Activity.id)))
            s.expunge_all()
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def test_snippet_records_page_views_with_a_first_party_visitor_id(app, browser, live_server):
    tsunagi = live_server(app)
    site = live_server(customer_site(tsunagi.url))
    page = browser.new_page(user_agent=DESKTOP)
    page.goto(site.url + "/pricing")
    page.goto(site.url + "/about?from=mail")
    views = wait_for_page_views(app, 2)
    assert [v.details["title"] for v in views] == ["pricing | 生協", "about | 生協"]
    assert views[0].details["url"] == site.url + "/pricing"
    assert views[1].details["referrer"] == ""  # page.goto sends no referrer
    # One visitor id, kept in a cookie on the customer's domain and copied into its forms.
    assert views[0].visitor_id == views[1].visitor_id
    cookies = {c["name"]: c for c in page.context.cookies(site.url)}
    assert cookies["tsunagi_vid"]["value"] == views[0].visitor_id
    assert page.locator("input[name=tsunagi_vid]").input_value() == views[0].visitor_id


def test_arriving_from_a_mail_link_links_the_visitor_to_the_person(app, browser, live_server):
    tsunagi = live_server(app)
    site = live_server(customer_site(tsunagi.url))
    token = tracking.person_token(app.config["SECRET_KEY"], lead_id(42))
    page = browser.new_page(user_agent=DESKTOP)
    page.goto(f"{site.url}/campaign?tsn={token}")
    views = wait_for_page_views(app, 1)
    assert len(views) == 1
    with db.get_db(app).transaction() as s:
        assert s.get(TrackingVisitor, views[0].visitor_id).person_id == lead_id(42)


def test_links_to_our_public_forms_carry_the_visitor_id_to_the_form(app, browser, live_server):
    from tests.forms.conftest import load_examples

    load_examples(app)
    tsunagi = live_server(app)
    site = live_server(customer_site(tsunagi.url))
    page = browser.new_page(user_agent=DESKTOP)
    page.goto(site.url + "/pricing")
    (view,) = wait_for_page_views(app, 1)
    vid = {c["name"]: c["value"] for c in page.context.cookies(site.url)}["tsunagi_vid"]
    assert view.visitor_id == vid
    # Its query and fragment kept; another site's link with the same path is left alone.
    # (tvid is the visitor id and the browser's clock, which the form checks is recent.)
    assert re.fullmatch(rf"{tsunagi.url}/f/materials_request\?from=top&tvid={vid}\.\d{{10}}#entry",
                        page.get_attribute("#apply", "href"))
    assert page.get_attribute("#elsewhere", "href") == "https://forms.example.org/f/materials_request"
    # A link the page adds later is tagged as it is followed, and the form carries the id on.
    page.evaluate("""url => { const a = document.createElement('a'); a.id = 'later'; a.href = url;
                              a.textContent = 'お申し込み'; document.body.appendChild(a); }""",
                  f"{tsunagi.url}/f/materials_request")
    page.click("#later")
    page.wait_for_url(re.compile(r"/f/materials_request"))
    assert re.fullmatch(rf"{tsunagi.url}/f/materials_request\?tvid={vid}\.\d{{10}}", page.url)
    assert page.locator("input[name=tsunagi_vid]").input_value() == vid
    # A framed form gets it too.
    page.goto(site.url + "/embed")
    page.wait_for_function("document.getElementById('framed').src.indexOf('tvid=') > 0")
    framed = page.get_attribute("#framed", "src")
    assert re.fullmatch(rf"{tsunagi.url}/f/materials_request\?tvid={vid}\.\d{{10}}", framed)


def test_do_not_track_browsers_send_nothing(app, browser, live_server):
    tsunagi = live_server(app)
    site = live_server(customer_site(tsunagi.url))
    page = browser.new_page(user_agent=DESKTOP, extra_http_headers={"DNT": "1"})
    page.add_init_script("Object.defineProperty(navigator, 'doNotTrack', {get: () => '1'})")
    page.goto(site.url + "/pricing")
    page.wait_for_load_state("networkidle")
    assert wait_for_page_views(app, 1, timeout=1.5) == []
    assert page.get_attribute("#apply", "href") == f"{tsunagi.url}/f/materials_request?from=top#entry"
