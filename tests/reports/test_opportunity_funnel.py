"""The sales funnel (商談ファネル) from a hand-made mirror, with every figure computed by hand.

Range 2026-10-01 .. 2026-11-30 in Asia/Tokyo. The people, hand-offs, campaigns and deals below
are chosen so that each rule of docs/reports.md ("商談ファネル") changes a number: a lead created at
16:00 UTC on Oct 31 is a November lead in Tokyo; a converted lead's Contact is not a second lead;
two hand-offs of one person in one month count once; a campaign joined after the deal opened is no
touch; a deal created before the range is no opportunity of the range but can be won in it.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from db import get_db
from scoring.models import ScoreThresholdCrossed
from sync.mirror import apply_records
from tests.reports import seed

RANGE = {"from": "2026-10-01", "to": "2026-11-30"}
_serial = itertools.count(1)
PREFIX = {"Lead": "00Q", "Contact": "003", "Opportunity": "006", "OpportunityContactRole": "00K",
          "Campaign": "701", "CampaignMember": "00v", "Task": "00T"}


def _id(object_name: str) -> str:
    return f"{PREFIX[object_name]}{next(_serial):012d}AAA"


def _stamp(text: str) -> str:
    return f"{text}:00.000+0000"


@pytest.fixture
def mirror(app):
    def put(object_name: str, created: str = "2026-08-01T00:00", **fields):
        record_id = fields.pop("Id", None) or _id(object_name)
        record = {"Id": record_id, "SystemModstamp": _stamp("2026-12-01T00:00"), "CreatedDate": _stamp(created),
                  **fields}
        with get_db(app).transaction() as session:
            apply_records(session, object_name, [record], "poll")
        return record_id
    return put


@pytest.fixture
def funnel_data(app, mirror):
    c1 = mirror("Campaign", Name="秋の新規加入キャンペーン")
    c2 = mirror("Campaign", Name="産直りんご予約")
    k1, o1 = _id("Contact"), _id("Opportunity")
    l1 = mirror("Lead", "2026-10-05T01:00", LastName="一", LeadSource="Web", IsConverted=True,
                ConvertedContactId=k1, ConvertedOpportunityId=o1)
    l2 = mirror("Lead", "2026-10-31T16:00", LastName="二", LeadSource="Web")   # 2026-11-01 01:00 in Tokyo
    mirror("Lead", "2026-11-10T00:00", LastName="三", LeadSource="Phone Inquiry")
    l4 = mirror("Lead", "2026-09-20T00:00", LastName="四", LeadSource="Web")   # before the range
    mirror("Lead", "2026-11-20T00:00", LastName="五", LeadSource="Web")
    mirror("Contact", "2026-10-12T00:00", Id=k1, LastName="一", LeadSource="Web")  # L1 converted
    k2 = mirror("Contact", "2026-11-15T00:00", LastName="六", LeadSource="Phone Inquiry")
    k3 = mirror("Contact", "2026-08-01T00:00", LastName="七", LeadSource="Other")  # an older member
    for campaign, person, joined, key in ((c1, l1, "2026-10-05T02:00", "LeadId"),
                                          (c1, l2, "2026-11-01T00:00", "LeadId"),
                                          (c1, k3, "2026-10-20T00:00", "ContactId"),
                                          (c1, k2, "2026-11-25T00:00", "ContactId"),  # after K2's deal
                                          (c2, l2, "2026-11-03T00:00", "LeadId"),
                                          (c2, k2, "2026-11-16T00:00", "ContactId"),
                                          (c2, k3, "2026-11-02T00:00", "ContactId"),
                                          (c2, l4, "2026-09-21T00:00", "LeadId")):
        mirror("CampaignMember", joined, CampaignId=campaign, **{key: person})
    for person, day, subject in ((l1, "2026-10-10", "ホットリード: スコア 110"),
                                 (l4, "2026-10-02", "ホットリード: スコア 104"),
                                 (k2, "2026-11-18", "ホットリード: スコア 120"),
                                 (k2, "2026-11-20", "ホットリード: スコア 131"),
                                 (k3, "2026-11-01", "訪問")):
        mirror("Task", f"{day}T00:00", Subject=subject, WhoId=person, ActivityDate=day)
    with get_db(app).transaction() as session:  # L2's hand-off came from tsunagi's own scoring
        session.add(ScoreThresholdCrossed(person_id=l2, threshold="hot_lead", crossing_no=1, score=110,
                                          crossed_at=datetime(2026, 11, 4, 3, 0, tzinfo=UTC)))
    won = {"StageName": "Closed Won", "IsWon": True, "IsClosed": True}
    mirror("Opportunity", "2026-10-15T00:00", Id=o1, Name="一様", ContactId=k1, CampaignId=c1, Amount=120000,
           CloseDate="2026-11-10", LeadSource="Web", **won)
    o2 = mirror("Opportunity", "2026-11-19T00:00", Name="六様", ContactId=k2, CampaignId=c2, Amount=36000,
                CloseDate="2026-11-28", LeadSource="Phone Inquiry", **won)
    mirror("OpportunityContactRole", "2026-11-19T00:00", OpportunityId=o2, ContactId=k2, IsPrimary=True)
    mirror("Opportunity", "2026-11-05T00:00", Name="七様 おせち", ContactId=k3, CampaignId=c2, Amount=24800,
           CloseDate="2026-11-25", LeadSource="Other", StageName="Closed Lost", IsWon=False, IsClosed=True)
    mirror("Opportunity", "2026-11-06T00:00", Name="七様 子育て", ContactId=k3, CampaignId=c1, Amount=60000,
           CloseDate="2026-11-29", LeadSource="Other", **won)
    mirror("Opportunity", "2026-11-07T00:00", Name="七様 未定", ContactId=k3, CampaignId=c1, Amount=5000,
           CloseDate="2026-12-20", StageName="Prospecting", IsWon=False, IsClosed=False)
    return {"c1": c1, "c2": c2}


def read_csv(response) -> list[list[str]]:
    body = response.get_data()
    assert body.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_the_funnel_by_month_source_and_campaign_matches_the_hand_computed_figures(app, sign_in, funnel_data):
    admin = sign_in("admin")
    rows = read_csv(admin.get("/admin/reports/opportunities", query_string={**RANGE, "format": "csv"}))
    assert rows[0] == ["区分", "キャンペーンID", "項目", "リード", "ホットリード", "商談", "商談金額", "受注",
                       "受注金額", "商談化率", "受注率"]
    figures = {(r[0], r[2]): r[3:] for r in rows[1:]}
    # Leads L1 L2 L3 L5 K2; hot leads L1 L4 L2 K2; deals O1 O2 O3 O4 O5; won O1 O2 O4.
    assert figures[("合計", "合計")] == ["5", "4", "5", "245800", "3", "216000", "1.0000", "0.6000"]
    assert figures[("月別", "2026-10")] == ["1", "2", "1", "120000", "0", "0", "1.0000", "0.0000"]
    assert figures[("月別", "2026-11")] == ["4", "2", "4", "125800", "3", "216000", "1.0000", "0.7500"]
    assert figures[("ソース別", "Web")] == ["3", "3", "1", "120000", "1", "120000", "0.3333", "1.0000"]
    assert figures[("ソース別", "Phone Inquiry")] == ["2", "1", "1", "36000", "1", "36000", "0.5000", "1.0000"]
    assert figures[("ソース別", "Other")] == ["0", "0", "2", "84800", "1", "60000", "", "0.5000"]
    assert figures[("ソース別", "(なし)")] == ["0", "0", "1", "5000", "0", "0", "", "0.0000"]
    # Campaign leads are members who joined in the range; its deals have it as primary campaign source.
    assert figures[("キャンペーン別", "秋の新規加入キャンペーン")] == \
        ["4", "2", "3", "185000", "2", "180000", "0.7500", "0.6667"]
    assert figures[("キャンペーン別", "産直りんご予約")] == ["3", "3", "2", "60800", "1", "36000", "0.6667", "0.5000"]
    assert len(rows) == 1 + 1 + 2 + 2 + 4 + 2


def test_the_cohort_rows_follow_each_month_s_leads_to_the_end_of_the_range(app, sign_in, funnel_data):
    rows = read_csv(sign_in("admin").get("/admin/reports/opportunities", query_string={**RANGE, "format": "csv"}))
    cohorts = {r[2]: r[3:] for r in rows[1:] if r[0] == "リード作成月別"}
    # October's lead L1 was handed off, converted into K1 and its deal O1 (120000) was won in November.
    # November's leads L2 L3 L5 K2: L2 and K2 handed off; K2's deal O2 (36000) won. K3's deals belong to
    # no cohort: K3 became a member long before the range.
    assert cohorts == {"2026-10": ["1", "1", "1", "120000", "1", "120000", "1.0000", "1.0000"],
                       "2026-11": ["4", "2", "1", "36000", "1", "36000", "0.2500", "1.0000"]}
    html = sign_in("admin").get("/admin/reports/opportunities", query_string=RANGE).get_data(as_text=True)
    october = re.search(r'<div data-cohorts>.*?<tr data-key="2026-10">(.*?)</tr>', html, re.S).group(1)
    assert re.findall(r">([^<>]+)</t[dh]>", october) == \
        ["2026-10", "1", "1", "1", "100.0%", "¥120,000", "1", "100.0%", "¥120,000"]


def test_campaign_influence_first_touch_last_touch_and_even_split(app, sign_in, funnel_data):
    admin = sign_in("admin")
    rows = read_csv(admin.get("/admin/reports/opportunities",
                              query_string={**RANGE, "format": "csv", "table": "influence"}))
    assert rows[0] == ["キャンペーンID", "キャンペーン", "受注商談", "ファーストタッチ", "ラストタッチ", "均等配分"]
    # O1 (120000): C1 only (its converted lead joined C1). O2 (36000): C2 (K2 joined C1 after the deal
    # opened). O4 (60000): K3 joined C1 then C2 before it opened: first C1, last C2, 30000 each.
    assert rows[1:] == [[funnel_data["c1"], "秋の新規加入キャンペーン", "2", "180000", "120000", "150000.00"],
                        [funnel_data["c2"], "産直りんご予約", "2", "36000", "96000", "66000.00"]]


def test_the_page_shows_the_rates_and_amounts_sales_reads(app, sign_in, funnel_data):
    html = sign_in("admin").get("/admin/reports/opportunities", query_string=RANGE).get_data(as_text=True)
    headline = re.search(r"<p class=\"headline\" data-total>(.*?)</p>", html, re.S).group(1)
    assert "100.0%" in headline and "60.0%" in headline and "¥216,000" in headline
    november = re.search(r'<tr data-key="2026-11">(.*?)</tr>', html, re.S).group(1)
    assert re.findall(r">([^<>]+)</t[dh]>", november) == \
        ["2026-11", "4", "2", "4", "100.0%", "¥125,800", "3", "75.0%", "¥216,000"]
    assert 'data-label="受注" data-value="3"' in html


def test_a_period_with_nothing_shows_dashes_not_errors(app, sign_in, funnel_data):
    response = sign_in("admin").get("/admin/reports/opportunities", query_string={"from": "2025-01-01",
                                                                                    "to": "2025-01-31"})
    assert response.status_code == 200
    assert "この期間の受注はありません。" in response.get_data(as_text=True)


def test_the_funnel_is_for_admins_only(sign_in):
    assert sign_in("sales").get("/admin/reports/opportunities").status_code == 403
    assert sign_in("operator").get("/admin/reports/opportunities").status_code == 403


def test_the_funnel_of_the_range_comes_from_the_refresh_snapshot_with_the_same_figures(app, sign_in, funnel_data):
    """At a million people the funnel takes seconds: the refresh job stores the default range's figures,
    and the page (and its CSVs) serve them, saying when they were computed."""
    from reports import opportunities, snapshots

    admin = sign_in("admin")
    live_page = admin.get("/admin/reports/opportunities", query_string=RANGE).get_data(as_text=True)
    live = {table: admin.get("/admin/reports/opportunities", query_string={**RANGE, "format": "csv", "table": table})
            .get_data(as_text=True) for table in ("funnel", "influence")}
    seed.save_snapshot(app, RANGE, snapshots.opportunities_key, opportunities.figures)
    cached_page = admin.get("/admin/reports/opportunities", query_string=RANGE).get_data(as_text=True)
    assert 'class="snapshot-age"' in cached_page and 'class="snapshot-age"' not in live_page
    for table, text in live.items():
        assert admin.get("/admin/reports/opportunities",
                         query_string={**RANGE, "format": "csv", "table": table}).get_data(as_text=True) == text


def test_the_refresh_job_stores_the_funnel_of_the_default_range(app):
    from reports import snapshots
    from reports.models import ReportSnapshot

    with app.app_context():
        with get_db(app).transaction() as s:
            snapshots.refresh(s, ("Email",), "Asia/Tokyo", now=datetime(2026, 11, 15, 3, 0, tzinfo=UTC))
        with get_db(app).transaction() as s:
            keys = [k for k in s.scalars(select(ReportSnapshot.key)) if k.startswith("opportunities:")]
    assert keys == ["opportunities:2026-06-01:2026-11-15"]
