"""The sales funnel from the demo: the seeded dev org, synced with the default objects, shown in Chromium.

The figures on the page are checked against the dev org's own records (counted here in Python), so
the SQL over the mirror and Salesforce's data agree; the screenshot is the one docs/reports.md shows.
"""

from __future__ import annotations

import shutil
from datetime import date, datetime
from pathlib import Path

import pytest

import db
from devorg.seed import seed
from people.service import create_user
from reports.opportunities import default_from
from sync.cycle import run_cycle
from tests.fixtures.app import TEST_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


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
    page.goto(server.url + "/login")
    page.fill("input[name=email]", "sales-manager@example.jp")
    page.fill("input[name=password]", TEST_PASSWORD)
    page.press("input[name=password]", "Enter")
    page.wait_for_url(server.url + "/")
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
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "reports-opportunities.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if not (DOCS_IMG / "reports-opportunities.png").exists():  # the docs keep one; delete it to refresh
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_IMG / "reports-opportunities.png")


def _local_day(devorg, stamp: str) -> date:
    from sync.values import parse_datetime

    return parse_datetime(stamp).astimezone(devorg.tz).date()
