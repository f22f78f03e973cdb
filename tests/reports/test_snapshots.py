"""Costly report figures come from the reports.refresh job's snapshot, shown with its time; data quality pages."""

from __future__ import annotations

import re

from db import get_db
from reports import snapshots
from tests.reports import seed
from tests.reports.test_data_quality import people  # noqa: F401  (fixture)
from tests.reports.test_reports import RANGE, cells
from tests.scoring.people import add_records, lead_id
from work.schedule import SCHEDULE


def _refresh(app) -> None:
    with app.app_context():
        app.extensions["tsunagi.work"].job_handlers["reports.refresh"]({})


def test_the_clock_schedules_the_refresh_job():
    assert any(entry.kind == "reports.refresh" for entry in SCHEDULE)


def test_data_quality_shows_the_snapshot_with_its_time_until_the_next_refresh(people, sign_in):  # noqa: F811
    admin = sign_in("admin")
    _refresh(people)
    page = admin.get("/admin/reports/data-quality").get_data(as_text=True)
    assert 'class="snapshot-age"' in page
    assert f'data-pair="{lead_id(2)},{lead_id(3)}"' in page
    with get_db(people).transaction() as s:
        add_records(s, "Lead", {"Id": lead_id(8), "LastName": "木村", "Company": "生協", "Email": "kimura@example.jp"},
                    {"Id": lead_id(9), "LastName": "木村", "Company": "生協", "Email": "KIMURA@example.jp"})
    # The snapshot is what the page shows: the new pair waits for the next refresh.
    assert f'data-pair="{lead_id(8)},{lead_id(9)}"' not in admin.get("/admin/reports/data-quality").get_data(
        as_text=True)
    _refresh(people)
    page = admin.get("/admin/reports/data-quality").get_data(as_text=True)
    assert f'data-pair="{lead_id(8)},{lead_id(9)}"' in page
    # A dismissal takes effect at once, without waiting for a refresh.
    admin.post("/admin/reports/data-quality/dismiss", data={"first_id": lead_id(8), "second_id": lead_id(9)})
    assert f'data-pair="{lead_id(8)},{lead_id(9)}"' not in admin.get("/admin/reports/data-quality").get_data(
        as_text=True)
    rows = admin.get("/admin/reports/data-quality", query_string={"format": "csv", "section": "invalid"})
    assert lead_id(6) in rows.get_data(as_text=True)


def test_data_quality_pages_through_long_lists(app, sign_in):
    with get_db(app).transaction() as s:
        add_records(s, "Lead", *({"Id": lead_id(n), "LastName": f"山田{n}", "Company": "生協"} for n in range(1, 451)))
    admin = sign_in("admin")
    for snapshot in (False, True):
        if snapshot:
            _refresh(app)
        first = admin.get("/admin/reports/data-quality").get_data(as_text=True)
        assert "(450)" in first  # every person lacks an Email: all 450 counted
        listed = set(re.findall(r'href="/people/(00Q\w+)"', first))
        assert len(listed) == 200 and 'rel="next"' in first
        # The browser tab says which page this is, never the pager's markup.
        title = re.search(r"<title>(.*?)</title>", first, re.S).group(1)
        assert "<" not in title and "データ品質" in title
        assert first.count('class="pager"') == 1
        third = admin.get("/admin/reports/data-quality?page=3").get_data(as_text=True)
        rest = set(re.findall(r'href="/people/(00Q\w+)"', third))
        assert len(rest) == 50 and not listed & rest and 'rel="next"' not in third
        assert admin.get("/admin/reports/data-quality?page=0").status_code == 400


def test_the_automation_report_of_the_last_30_days_comes_from_the_snapshot(app, sign_in):
    with get_db(app).transaction() as s:
        seed.seed_automation_funnel(s)
    admin = sign_in("admin")
    live = admin.get("/admin/reports/automations", query_string=RANGE).get_data(as_text=True)
    seed.save_snapshot(app, RANGE, snapshots.funnels_key, snapshots.automation_figures)
    cached = admin.get("/admin/reports/automations", query_string=RANGE).get_data(as_text=True)
    assert 'class="snapshot-age"' in cached and 'class="snapshot-age"' not in live
    assert cells(cached, "welcome") == cells(live, "welcome") == {
        "triggered": 4, "sent": 4, "delivered": 3, "opened": 3, "clicked": 2, "converted": 1}
    overview = admin.get("/admin/reports/", query_string=RANGE)
    assert overview.status_code == 200 and 'class="snapshot-age"' in overview.get_data(as_text=True)


def test_the_campaign_report_of_the_range_comes_from_the_snapshot_with_the_same_figures(app, sign_in):
    with get_db(app).transaction() as s:
        seed.seed_campaigns(s)
    admin = sign_in("admin")
    query = {**RANGE, "format": "csv"}
    live_page = admin.get("/admin/reports/campaigns", query_string=RANGE).get_data(as_text=True)
    live = admin.get("/admin/reports/campaigns", query_string=query).get_data(as_text=True)
    seed.save_snapshot(app, RANGE, snapshots.funnels_key, snapshots.automation_figures)
    cached_page = admin.get("/admin/reports/campaigns", query_string=RANGE).get_data(as_text=True)
    assert 'class="snapshot-age"' in cached_page and 'class="snapshot-age"' not in live_page
    assert admin.get("/admin/reports/campaigns", query_string=query).get_data(as_text=True) == live
