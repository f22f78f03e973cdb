"""Numbers an admin can trust: one definition per KPI shared by the overview and the funnels (figures
computed by hand), and bars whose percentages are of the right base — never above 100 %."""

from __future__ import annotations

import re

from activity.record import record_activity
from db import get_db
from forms.models import Submission
from tests.reports import seed
from tests.reports.test_reports import RANGE, cells, seeded


def _figure(html: str, name: str) -> int:
    return int(re.search(rf'data-figure="{name}">([\d,]+)<', html).group(1).replace(",", ""))


def _another_open_of_mail_1(session) -> None:
    from mail.models import OutboxMail

    m1 = session.query(OutboxMail).filter_by(send_key="welcome/0/" + seed.lead_id(1) + "/once#1").one()
    record_activity(session, "mail_open", person_id=m1.person_id, occurred_at=seed.at("2026-11-06T09:00"),
                    details={"mail_id": m1.id, "origin": "automations", "origin_ref": m1.origin_ref})


def test_overview_and_funnel_count_opens_and_clicks_the_same_way(app, sign_in):
    seeded(app, seed.seed_automation_funnel, _another_open_of_mail_1)
    admin = sign_in("admin")
    overview = admin.get("/admin/reports/", query_string=RANGE).get_data(as_text=True)
    funnel = admin.get("/admin/reports/automations", query_string=RANGE).get_data(as_text=True)
    # By hand: mails 1–3 were opened (mail 1 three times: 5 open events), mails 1 and 2 clicked.
    assert _figure(overview, "mail_open") == 3 == cells(funnel, "welcome")["opened"]
    assert _figure(overview, "mail_click") == 2 == cells(funnel, "welcome")["clicked"]
    # The overview's funnel chart shows the same 3, as 100 % of the 3 delivered (not of the 4 entries).
    assert re.search(r'data-label="開封" data-value="3">.*?3（配信の 100%）', overview)


def _bar_shares(html: str) -> list[int]:
    return [int(n) for svg in re.findall(r'<svg class="chart funnel".*?</svg>', html, re.S)
            for n in re.findall(r"(\d+)%", svg)]


def test_no_bar_reads_more_than_100_percent(app, sign_in):
    seeded(app, seed.seed_automation_funnel, seed.seed_forms)
    with get_db(app).transaction() as session:  # the second form has more submissions than the first
        for n in range(3):
            session.add(Submission(idempotency_key=f"v{n}", form_key="visit", data={}, status="written",
                                   writeback_item_ids=[], search_text="", created_at=seed.at("2026-11-05T01:00"),
                                   updated_at=seed.at("2026-11-05T01:00")))
    admin = sign_in("admin")
    forms = admin.get("/admin/reports/forms", query_string=RANGE).get_data(as_text=True)
    assert "（全体の 44%）" in forms and "（全体の 56%）" in forms  # 4 and 5 of 9 submissions
    for page in ("/admin/reports/", "/admin/reports/automations", "/admin/reports/forms", "/admin/reports/stages"):
        shares = _bar_shares(admin.get(page, query_string=RANGE).get_data(as_text=True))
        assert all(share <= 100 for share in shares), (page, shares)
