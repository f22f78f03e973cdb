"""The sales funnel from the demo: the seeded dev org, synced with the default objects, shown in Chromium.

The figures on the page are checked against the dev org's own records (counted here in Python), so
the SQL over the mirror and Salesforce's data agree; the screenshot is the one docs/reports.md shows.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest

import db
from devorg.seed import seed
from people.service import create_user
from reports.opportunities import default_from
from sync.cycle import run_cycle
from tests.fixtures.app import TEST_PASSWORD
from tests.fixtures.browser import keep_screenshot, log_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_the_demo_shows_hot_leads_turning_into_opportunities_and_won_deals(make_app, devorg, browser, live_server):
    seed(devorg, size=2000)
    app = make_app(**devorg.app_settings())  # the default SYNC_OBJECTS, opportunities included
    result = run_cycle(app)
    assert result.outcome == "ok", result.errors
    with db.get_db(app).transaction() as session:
        create_user(session, "sales-manager@example.jp", "admin", TEST_PASSWORD)
    today = datetime.now(devorg.tz).date()
    first = default_from(today)
    opportunities = devorg.records("Opportunity")
    in_range = [o for o in opportunities if first <= _local_day(devorg, o["CreatedDate"]) <= today]
    won = [o for o in opportunities if o["IsWon"] and first.isoformat() <= o["CloseDate"] <= today.isoformat()]
    assert in_range and won
    server = live_server(app)
    page = browser.new_page(viewport={"width": 1200, "height": 1600})
    log_in(page, server, "sales-manager@example.jp")
    assert page.locator('a[href="/admin/reports/opportunities"]').count() >= 1  # the admin home lists it
    page.goto(server.url + "/admin/reports/opportunities")
    bars = page.locator("svg.funnel g.bar")
    figures = {bars.nth(i).get_attribute("data-label"): bars.nth(i).get_attribute("data-value")
               for i in range(bars.count())}
    assert figures["商談"] == str(len(in_range)) and figures["受注"] == str(len(won))
    assert int(figures["ホットリード"]) > int(figures["商談"]) > int(figures["受注"]) > 0
    headline = page.locator("p.headline").inner_text()
    assert f"¥{sum(o['Amount'] for o in won):,.0f}" in headline
    assert page.locator("table.influence tbody tr").count() >= 1
    keep_screenshot(page, "reports-opportunities.png")


def _local_day(devorg, stamp: str) -> date:
    from sync.values import parse_datetime

    return parse_datetime(stamp).astimezone(devorg.tz).date()
