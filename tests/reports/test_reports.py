"""Report figures from seeded events equal hand-computed values; CSV export; access; range checks."""

from __future__ import annotations

import csv
import io
import re

import pytest

from db import get_db
from tests.reports import seed

RANGE = {"from": "2026-11-01", "to": "2026-11-15"}


@pytest.fixture
def admin(sign_in):
    return sign_in("admin")


def seeded(app, *seeders):
    with get_db(app).transaction() as s:
        for fn in seeders:
            fn(s)


def cells(html: str, automation: str) -> dict[str, int]:
    row = re.search(rf'<tr data-automation="{automation}">(.*?)</tr>', html, re.S).group(1)
    return {k: int(v) for k, v in re.findall(r'data-step="(\w+)">(\d+)<', row)}


def read_csv(response) -> list[list[str]]:
    body = response.get_data()
    assert body.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_automation_funnel_counts_match_the_seeded_events(app, admin):
    seeded(app, seed.seed_automation_funnel)
    html = admin.get("/admin/reports/automations", query_string=RANGE).get_data(as_text=True)
    # By hand: 4 entries in range; mails 1–4 sent in range (4 bounced); opened 1,2,3; clicked 1,2;
    # converted: only p1 submitted within 30 days after its mail.
    assert cells(html, "welcome") == {"triggered": 4, "sent": 4, "delivered": 3, "opened": 3, "clicked": 2,
                                      "converted": 1}
    assert cells(html, "winback") == {"triggered": 1, "sent": 0, "delivered": 0, "opened": 0, "clicked": 0,
                                      "converted": 0}
    assert "100.0%" in html  # open rate 3/3 delivered
    assert html.count('<svg class="chart funnel"') == 2


def test_automation_csv_has_a_bom_and_the_same_figures(app, admin):
    seeded(app, seed.seed_automation_funnel)
    response = admin.get("/admin/reports/automations", query_string={**RANGE, "format": "csv"})
    assert response.mimetype == "text/csv"
    rows = read_csv(response)
    welcome = next(r for r in rows if r[0] == "welcome")
    assert welcome[1:8] == ["ようこそメール", "4", "4", "3", "3", "2", "1"]
    assert welcome[8] == f"{3 / 3:.4f}" and welcome[9] == f"{2 / 3:.4f}"


def test_deliverability_counts_by_tokyo_day(app, admin):
    seeded(app, seed.seed_automation_funnel, seed.seed_deliverability)
    rows = read_csv(admin.get("/admin/reports/deliverability", query_string={**RANGE, "format": "csv"}))
    by_day = {r[0]: [int(x) for x in r[1:]] for r in rows[1:]}
    assert len(by_day) == 15
    # sent (status sent or bounced, by JST day of sent_at), hard, soft, unsubscribes
    assert by_day["2026-11-02"] == [1, 1, 0, 0]
    assert by_day["2026-11-03"] == [1, 0, 2, 1]
    assert by_day["2026-11-04"] == [1, 0, 0, 0]
    assert by_day["2026-11-05"] == [1, 0, 0, 0]
    html = admin.get("/admin/reports/deliverability", query_string=RANGE).get_data(as_text=True)
    assert 'data-figure="bounce_rate">75.00%' in html       # 3 bounces / 4 sent
    assert 'data-figure="unsubscribe_rate">25.00%' in html  # 1 / 4


def test_form_report_shows_submissions_and_error_rate(app, admin):
    seeded(app, seed.seed_forms)
    rows = read_csv(admin.get("/admin/reports/forms", query_string={**RANGE, "format": "csv"}))
    assert rows[1:] == [["contact", "contact", "4", "1", "1", "0.2500"], ["visit", "visit", "2", "0", "0", "0.0000"]]


def test_campaign_report_counts_members_by_status(app, admin):
    seeded(app, seed.seed_campaigns)
    rows = read_csv(admin.get("/admin/reports/campaigns", query_string={**RANGE, "format": "csv"}))
    assert rows[1] == ["701000000000000001", "秋のセミナー", "Seminar", "3", "1", "0", "出席=2; 送信済み=1"]


def test_overview_renders_the_charts(app, admin):
    seeded(app, seed.seed_automation_funnel, seed.seed_deliverability)
    html = admin.get("/admin/reports/", query_string=RANGE).get_data(as_text=True)
    assert re.search(r'data-label="送信" data-value="4"', html)
    assert re.search(r'data-label="クリック" data-value="2"', html)
    assert html.count("<svg") == 3


def test_a_bad_date_range_is_explained(admin):
    response = admin.get("/admin/reports/automations", query_string={"from": "2026-13-01"})
    assert response.status_code == 400
    assert "日付は 2026-11-01 の形式で入力してください。" in response.get_data(as_text=True)
    response = admin.get("/admin/reports/automations", query_string={"from": "2026-11-10", "to": "2026-11-01"})
    assert "開始日は終了日以前にしてください。" in response.get_data(as_text=True)


def test_sync_and_stage_pages_render(app, admin):
    seeded(app, seed.seed_campaigns)
    assert "CampaignMember" in admin.get("/admin/reports/sync").get_data(as_text=True)
    assert admin.get("/admin/reports/stages").status_code == 200


@pytest.mark.parametrize("path", ["/admin/reports/", "/admin/reports/automations", "/admin/reports/data-quality"])
def test_reports_are_for_admins_only(sign_in, client, path):
    assert sign_in("operator").get(path).status_code == 403
    assert sign_in("sales").get(path).status_code == 403
    assert client.get(path).status_code == 302


@pytest.mark.db_independent
def test_csv_cells_that_look_like_formulas_are_neutralised(app):
    from reports.csvout import csv_response

    with app.test_request_context():
        response = csv_response("x.csv", ["a"], [["=HYPERLINK(\"x\")"], ["-5"]])
    rows = read_csv(response)
    assert rows[1:] == [["'=HYPERLINK(\"x\")"], ["-5"]]
