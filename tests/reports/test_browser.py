"""The report page in a real Chromium: charts render with the seeded figures; a screenshot is kept."""

from __future__ import annotations

import pytest

import db
from people.service import create_user
from scoring import service as scoring_service
from tests.fixtures.app import TEST_PASSWORD
from tests.fixtures.browser import keep_screenshot, log_in
from tests.reports import seed
from tests.scoring.people import add_activity, lead_id

pytestmark = [pytest.mark.browser, pytest.mark.slow]

def test_report_page_draws_the_charts_from_seeded_data(app, browser, live_server):
    with db.get_db(app).transaction() as session:
        create_user(session, "reports@example.jp", "admin", TEST_PASSWORD)
        seed.seed_automation_funnel(session)
        seed.seed_deliverability(session)
        behaviour = (["mail_open"], ["mail_open"] * 3 + ["page_view"], ["form_submit"] * 2 + ["page_view"])
        for n, kinds in enumerate(behaviour):
            for kind in kinds:
                add_activity(session, kind, lead_id(100 + n), url="https://coop.example.jp/pricing")
    with app.app_context(), db.get_db(app).transaction() as session:  # as the scoring job runs it
        scoring_service.score_new_activity(session)
    server = live_server(app)
    page = browser.new_page(viewport={"width": 1100, "height": 1400})
    log_in(page, server, "reports@example.jp")
    page.goto(server.url + "/admin/reports/?from=2026-11-01&to=2026-11-15")
    charts = page.locator("svg.chart")
    assert charts.count() == 3
    # The funnel bars carry the figures and are drawn with a width proportional to them.
    bars = page.locator("svg.funnel").first.locator("g.bar")
    figures = {bars.nth(i).get_attribute("data-label"): bars.nth(i).get_attribute("data-value")
               for i in range(bars.count())}
    assert figures == {"開始": "5", "送信": "4", "配信": "3", "開封": "3", "クリック": "2", "コンバージョン": "1"}
    widths = [bars.nth(i).locator("rect").bounding_box()["width"] for i in range(bars.count())]
    assert widths[0] > widths[1] > widths[2] == widths[3] > widths[4] > widths[5] > 0
    # The daily chart draws one line per series, and the browser lays it out visibly.
    stages = page.locator("svg.funnel").nth(1).locator("g.bar")
    # Default model, by hand: 情報収集 = seeded p3 (60, no click/pricing) and our first (10);
    # 比較検討 = p1 (73, clicked), p2 (63, clicked), our second (35 with pricing);
    # 導入検討 = our third (105 with a form); the bounced address (−70) has no stage.
    assert [stages.nth(i).get_attribute("data-value") for i in range(3)] == ["2", "3", "1"]
    lines = page.locator("svg.daily polyline")
    assert lines.count() == 3
    assert page.locator("svg.daily").bounding_box()["height"] > 100
    keep_screenshot(page, "reports-overview.png")
