"""Every front-line flow walked in Chromium, with the screenshots docs/forms.md shows.

A screenshot is written to docs/img/ when it is missing there, or for all of them with
TSUNAGI_SCREENSHOTS=1 (`make screenshots`); otherwise into the test's temporary folder, so the
walk itself (and what it asserts on each page) runs in every test run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import select

import db as dbmod
from people.models import User
from tests.forms.helpers import all_status, work_until
from tests.forms.test_front_line import PHONE, _app, _member, _operator_at_lookup, _settle, _sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


class Shots:
    """Where a named screenshot goes: docs/img/ when refreshing or missing, else a temporary folder."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.refresh = os.environ.get("TSUNAGI_SCREENSHOTS") == "1"

    def take(self, page, name: str, full_page: bool = False) -> None:
        target = DOCS_IMG / name
        if not (self.refresh or not target.exists()):
            target = self.tmp_path / name
        page.screenshot(path=str(target), full_page=full_page)


@pytest.fixture
def shots(tmp_path):
    return Shots(tmp_path)


def test_operator_look_up_form_confirm_and_done(make_app, devorg, smtp_sink, tmp_path, live_server, browser,
                                                seed_mirror_on, shots):
    from tests.forms.conftest import person

    app = _app(make_app, devorg, tmp_path, smtp_url=smtp_sink.url)
    server = live_server(app)
    member = devorg.insert("Contact", LastName="佐藤", FirstName="次郎", LastNameKana__c="サトウ",
                           FirstNameKana__c="ジロウ", Phone="03-6496-3255", Email="sato.jiro@example.jp",
                           Tsunagi_Key__c="member-000123", MailingPostalCode="160-0002", MailingState="東京都",
                           MailingCity="新宿区", MailingStreet="四谷坂町1-2")
    seed_mirror_on(app, "Contact", devorg.get("Contact", member))
    seed_mirror_on(app, "Lead", person("Lead", LastName="佐藤", FirstName="次郎", LastNameKana__c="サトウ",
                                       FirstNameKana__c="ジロウ", Phone="06-6496-0001", PostalCode="530-0001",
                                       State="大阪府", City="大阪市北区", Street="梅田1-1"))
    page = _operator_at_lookup(app, browser, server)
    page.keyboard.type("6496")  # the middle of the number the caller gives
    page.wait_for_selector("#lookup-results [role=option]:has-text('大阪府')")
    rows = page.locator("#lookup-results [role=option]").all_inner_texts()
    assert len(rows) == 2 and any("会員番号 member-000123" in r for r in rows), rows
    shots.take(page, "forms-operator-lookup.png")
    page.locator("#lookup-results [role=option]:has-text('member-000123')").click()
    page.wait_for_url("**/forms/trial_set?person=*")
    assert page.input_value("#f-Email") == "sato.jiro@example.jp"
    shots.take(page, "forms-operator.png", full_page=True)
    page.click("button[value=confirm]")
    page.wait_for_selector("table.confirm")
    shots.take(page, "forms-operator-confirm.png", full_page=True)
    page.click("button[value=submit]")
    page.wait_for_selector("text=受け付けました")
    work_until(app, all_status(app, "written"))
    page.wait_for_selector(".status.written", timeout=15000)  # the done page learns the outcome on its own
    shots.take(page, "forms-operator-done.png", full_page=True)


def test_sales_home_customers_visit_and_absent_with_undo(make_app, devorg, smtp_sink, tmp_path, live_server,
                                                         browser, seed_mirror_on, shots):
    from tests.forms.conftest import person

    app = _app(make_app, devorg, tmp_path, smtp_url=smtp_sink.url, forms_visit_undo_seconds=60)
    server = live_server(app)
    rep = devorg.insert("User", Username="rep-shots@coop.example.jp", LastName="営業", FirstName="花子",
                        Email="rep-shots@coop.example.jp", Alias="repshot", Phone="03-5555-0101")
    seed_mirror_on(app, "User", devorg.get("User", rep))
    member = _member(app, devorg, seed_mirror_on)
    devorg.update("Contact", member, OwnerId=rep)
    seed_mirror_on(app, "Contact", devorg.get("Contact", member))
    for n, (last, kana, street) in enumerate([("青木", "アオキ", "山下町2-3"), ("上田", "ウエダ", "元町1-5"),
                                              ("岡本", "オカモト", "本牧3-1")]):
        seed_mirror_on(app, "Contact", person("Contact", LastName=last, FirstName="和子", LastNameKana__c=kana,
                                              FirstNameKana__c="カズコ", OwnerId=rep, MailingState="神奈川県",
                                              MailingCity="横浜市中区", MailingStreet=street,
                                              Phone=f"045-200-000{n}"))
    _settle(app, smtp_sink)  # the Task describe (the memo's limit)
    page = _sign_in(app, browser, server, "sales", name="営業 花子", **PHONE)
    with dbmod.get_db(app).transaction() as session:
        session.scalar(select(User).where(User.email == "sales-front@example.jp")).salesforce_user_id = rep
    page.goto(server.url + "/")
    page.wait_for_selector("#customers .customer-list")
    assert len(page.locator("#customers .customer-list li").all()) == 4
    shots.take(page, "forms-sales-home.png", full_page=True)
    page.locator("a.card:has-text('担当のお客様')").tap()
    page.wait_for_selector("#customers .customer-list")
    shots.take(page, "forms-sales-customers.png", full_page=True)
    page.locator("#customers .customer-list a:has-text('伊藤 誠')").tap()
    page.wait_for_selector("button:has-text('不在')")
    page.fill("#f-Description", "インターホン応答なし。ポストに名刺")
    shots.take(page, "forms-sales-visit.png", full_page=True)
    page.locator("button:has-text('不在')").tap()
    page.wait_for_selector(".recorded button:has-text('取り消す')")
    assert "伊藤 誠 様の訪問を記録しました: 不在" in page.inner_text(".recorded")
    shots.take(page, "forms-sales-visit-recorded.png")


def test_public_revisit_booking(make_app, devorg, tmp_path, live_server, browser, seed_mirror_on, shots):
    from tests.forms.test_front_line import _booking_path, _days_from_today

    app = _app(make_app, devorg, tmp_path)
    server = live_server(app)
    member = _member(app, devorg, seed_mirror_on)
    page = browser.new_page(**PHONE)
    page.goto(server.url + _booking_path(app, member))
    day = _days_from_today(3, app)
    page.fill("#f-ActivityDate", day)
    page.fill("#f-Description", "午前中でお願いします")
    shots.take(page, "forms-public-booking.png", full_page=True)
    page.click("button[value=confirm]")
    page.click("button[value=submit]")
    page.wait_for_selector("text=ご予約の内容")
    assert page.inner_text("[data-booked=ActivityDate]") == day
    shots.take(page, "forms-public-booked.png", full_page=True)
