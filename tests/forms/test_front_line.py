"""The front line in Chromium: a field rep's taps, a customer's booking link, an operator's entry.

Each test follows one user's steps on a phone or a desktop viewport against the real app server,
the dev org (over HTTPS through the gateway) and a real SMTP sink, and asserts what the user sees
and what lands in Salesforce or in the customer's mailbox.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

import db as dbmod
from tests.fixtures.browser import page_until
from tests.forms.helpers import GATEWAY_OPTIONS, lookup_rows, signed_in_page, time_passes

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DOCS_IMG = ROOT / "docs" / "img"
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}


def _app(make_app, devorg, tmp_path, **settings):
    """The org-connected app with CSRF on, the example forms and the absent follow-up automation."""
    from tests.forms.conftest import load_examples

    app = make_app(config={"SALESFORCE_GATEWAY_OPTIONS": GATEWAY_OPTIONS, "WTF_CSRF_ENABLED": True},
                   **devorg.app_settings(), mail_tracking=False, **settings)
    load_examples(app)
    document = yaml.safe_load((ROOT / "automations" / "examples" / "absent_follow_up.yaml").read_text("utf-8"))
    for automation in document["automations"]:
        automation.pop("window", None)  # any hour of the day
    path = tmp_path / "absent.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    loaded = app.test_cli_runner().invoke(args=["automations", "load", str(path)])
    assert loaded.exit_code == 0, loaded.output
    return app


def _sign_in(app, browser, server, role, name="", **page_options):
    return signed_in_page(app, browser, server, role, email=f"{role}-front@example.jp", name=name, **page_options)


def _operator_at_lookup(app, browser, server):
    """An operator on the trial_set form with the cursor in the look-up box."""
    page = _sign_in(app, browser, server, "operator", **DESKTOP)
    page.goto(server.url + "/forms/trial_set")
    # Chromium applies autofocus just after load: wait for it rather than race it.
    page_until(page, "document.activeElement && document.activeElement.id === 'lookup'")
    return page


def _member(app, devorg, seed_mirror_on):
    contact = devorg.insert("Contact", LastName="伊藤", FirstName="誠", LastNameKana__c="イトウ",
                            FirstNameKana__c="マコト", Phone="045-123-4567", Email="makoto@example.jp",
                            MailingState="神奈川県", MailingCity="横浜市", HasOptedOutOfEmail=False)
    seed_mirror_on(app, "Contact", devorg.get("Contact", contact))
    return contact


def _visits(devorg, who):
    return [t for t in devorg.records("Task") if t.get("WhoId") == who and t.get("Subject") == "訪問結果"]


def _settle(app, smtp_sink, passes: int = 30) -> None:
    """Let every delayed write-back fall due and the workers run until nothing is left to do."""
    from work.worker import work_once

    time_passes(app)
    idle = 0
    for _ in range(passes * 10):
        if work_once(app, "front-line-test"):
            idle = 0
        else:
            idle += 1
            if idle > 5:
                break


@pytest.fixture
def visit_app(make_app, devorg, smtp_sink, tmp_path):
    return _app(make_app, devorg, tmp_path, smtp_url=smtp_sink.url, forms_visit_undo_seconds=60)


def test_absent_then_back_then_absent_is_one_visit_one_mail_and_no_score(visit_app, live_server, browser, devorg,
                                                                         smtp_sink, seed_mirror_on):
    app = visit_app
    server = live_server(app)
    member = _member(app, devorg, seed_mirror_on)
    page = _sign_in(app, browser, server, "sales", name="営業 花子", **PHONE)
    page.goto(server.url + "/forms/visit")
    page.fill("#lookup", "いとう")
    page.locator("#lookup-results a").first.tap()
    page.locator("button:has-text('不在')").tap()
    page.wait_for_selector(".recorded")
    assert "伊藤 誠 様の訪問を記録しました: 不在" in page.locator(".recorded").inner_text()
    assert page.locator(".recorded button:has-text('取り消す')").is_visible()
    if not DOCS_IMG.joinpath("forms-sales-visit-recorded.png").exists():
        page.screenshot(path=str(DOCS_IMG / "forms-sales-visit-recorded.png"))
    page.go_back()  # the rep goes Back to the customer and taps 不在 once more
    page.wait_for_selector("button:has-text('不在')")
    page.locator("button:has-text('不在')").tap()
    page.wait_for_selector(".recorded")
    assert "伊藤 誠 様の本日の訪問はすでに記録済みです: 不在" in page.locator(".recorded").inner_text()

    _settle(app, smtp_sink)
    smtp_sink.wait_for(1, timeout=10)
    _settle(app, smtp_sink)
    assert [t["Visit_Result__c"] for t in _visits(devorg, member)] == ["不在"]
    assert [m.rcpt_tos for m in smtp_sink.messages] == [["makoto@example.jp"]]  # no hot-lead mail to the rep
    html = smtp_sink.messages[0].message.get_body(("html",)).get_content()
    assert _days_from_today(0, app) in html  # the visit's date
    assert "連携" not in html  # not signed by the integration user
    assert "営業 花子がお伺いしました" in html  # the rep who recorded the visit
    assert 'style="display:inline-block' in html and "/f/revisit_booking?t=" in html  # a button, not bare text

    from scoring.models import ScoreEvent
    from scoring.service import score_new_activity

    with dbmod.get_db(app).transaction() as session:
        score_new_activity(session)
    with dbmod.get_db(app).transaction() as session:
        assert list(session.scalars(select(ScoreEvent).where(ScoreEvent.person_id == member))) == []


def test_a_rep_corrects_absent_to_at_home_and_then_undoes_the_visit(visit_app, live_server, browser, devorg,
                                                                     smtp_sink, seed_mirror_on):
    app = visit_app
    server = live_server(app)
    member = _member(app, devorg, seed_mirror_on)
    page = _sign_in(app, browser, server, "sales", **DESKTOP)
    page.goto(server.url + f"/forms/visit/{member}")
    page.click("button:has-text('不在')")
    page.wait_for_selector(".recorded")
    page.go_back()
    page.click("button:has-text('在宅')")  # the same visit, corrected
    page.wait_for_selector(".recorded")
    assert "伊藤 誠 様の本日の訪問記録を更新しました: 在宅" in page.locator(".recorded").inner_text()
    assert "前回: 不在" in page.locator(".recorded").inner_text()
    page.click(".recorded button:has-text('取り消す')")
    page.wait_for_selector("text=伊藤 誠 様の訪問記録を取り消しました。")
    _settle(app, smtp_sink)
    assert _visits(devorg, member) == []  # withdrawn before it was written: no Task…
    assert smtp_sink.messages == []  # …and so no follow-up mail
    # A later tap the same day records a new visit.
    page.goto(server.url + f"/forms/visit/{member}")
    page.click("button:has-text('在宅')")
    page.wait_for_selector("text=伊藤 誠 様の訪問を記録しました: 在宅")
    _settle(app, smtp_sink)
    assert [t["Visit_Result__c"] for t in _visits(devorg, member)] == ["在宅"]
    assert smtp_sink.messages == []


# --- the customer's revisit booking (issue case 7) -------------------------------------------

def _booking_path(app, person_id):
    from urllib.parse import urlsplit

    from forms.links import signed_form_url

    with app.test_request_context():
        url = urlsplit(signed_form_url("revisit_booking", person_id, max_age_days=14))
    return f"{url.path}?{url.query}"


def _days_from_today(days, app=None):
    """An ISO date `days` from today in the service's time zone (Asia/Tokyo unless configured)."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    zone = app.config["TSUNAGI"].timezone if app is not None else _ZONE["name"]
    return (datetime.now(ZoneInfo(zone)).date() + timedelta(days=days)).isoformat()


_ZONE = {"name": "Asia/Tokyo"}


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_a_customer_books_a_revisit_once_from_the_mail_link_and_sees_the_booked_day(
        make_app, devorg, tmp_path, live_server, browser, seed_mirror_on, viewport):
    from tests.forms.helpers import all_status, submissions, work_until

    app = _app(make_app, devorg, tmp_path)
    _ZONE["name"] = app.config["TSUNAGI"].timezone
    server = live_server(app)
    member = _member(app, devorg, seed_mirror_on)
    page = browser.new_page(**viewport)
    # No link, or a tampered one: a clear page and no form at all.
    page.goto(server.url + "/f/revisit_booking")
    assert "メールでお送りしたご案内のリンクから開いてください" in page.inner_text("main, body")
    assert page.locator("#f-ActivityDate").count() == 0
    link = _booking_path(app, member)
    page.goto(server.url + link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB"))
    assert "リンクが正しくありません" in page.inner_text("body")
    assert page.locator("#f-ActivityDate").count() == 0
    assert submissions(app) == []

    page.goto(server.url + link)
    assert page.get_attribute("#f-ActivityDate", "min") == _days_from_today(1)
    page.fill("#f-ActivityDate", "2020-01-01")  # a day in the past
    page.click("button[value=confirm]")
    assert f"{_days_from_today(1)} 以降の日付を選んでください" in page.inner_text("#f-ActivityDate-error")
    page.fill("#f-ActivityDate", _days_from_today(400))  # too far ahead
    page.click("button[value=confirm]")
    assert f"{_days_from_today(60)} までの日付を選んでください" in page.inner_text("#f-ActivityDate-error")
    day = _days_from_today(3)
    page.fill("#f-ActivityDate", day)
    page.fill("#f-Description", "午前中でお願いします")
    page.click("button[value=confirm]")
    page.click("button[value=submit]")
    page.wait_for_selector("text=ご予約の内容")
    assert page.inner_text("[data-booked=ActivityDate]") == day
    assert page.inner_text("[data-booked=Description]") == "午前中でお願いします"

    # The same link again (the mail opened a second time): the booking is shown, not a new form.
    page.goto(server.url + link)
    assert "このリンクからのご予約はすでに承っています" in page.inner_text("body")
    assert page.inner_text("[data-booked=ActivityDate]") == day
    assert page.locator("#f-ActivityDate").count() == 0
    work_until(app, all_status(app, "written"))
    bookings = [t for t in devorg.records("Task") if t.get("Subject") == "再訪問予約"]
    assert [(t["WhoId"], t["ActivityDate"]) for t in bookings] == [(member, day)]


# --- Salesforce's rules at the moment of input (issue case 6) ------------------------------

@pytest.fixture
def operator_stack(make_app, devorg, smtp_sink, tmp_path, live_server):
    """A fresh app (as after `make run`) with its worker running in a thread, and the confirmation templates."""
    import threading

    from work.worker import run_worker

    app = _app(make_app, devorg, tmp_path, smtp_url=smtp_sink.url, worker_idle_sleep_seconds=0.05)
    loaded = app.test_cli_runner().invoke(
        args=["automations", "load", str(ROOT / "automations" / "examples" / "form_confirmations.yaml")])
    assert loaded.exit_code == 0, loaded.output
    stop = threading.Event()
    worker = threading.Thread(target=run_worker, args=(app, stop, "front-line-worker"), daemon=True)
    worker.start()
    yield app, live_server(app)
    stop.set()
    worker.join(timeout=10)


def _fill_trial(page, last_name="山田", email="taro@example.jp"):
    page.fill("#f-LastName", last_name)
    page.fill("#f-FirstName", "太郎")
    page.fill("#f-LastNameKana__c", "ヤマダ")
    page.fill("#f-FirstNameKana__c", "タロウ")
    page.fill("#f-Phone", "090-3333-4444")
    page.fill("#f-Email", email)
    page.fill("#f-PostalCode", "160-0002")
    page.fill("#f-State", "東京都")
    page.fill("#f-City", "新宿区")
    page.fill("#f-Street", "四谷坂町1-2")


def _wait(condition, timeout=15.0):
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def test_the_org_s_field_lengths_are_fetched_on_their_own_and_enforced_while_typing(operator_stack, browser):
    from forms.describe import cached_fields

    app, server = operator_stack

    def described():
        with dbmod.get_db(app).transaction() as session:
            return cached_fields(session, "Lead")

    _wait(lambda: bool(described()))  # nobody pressed 項目情報を更新: saving the forms queued it
    page = _sign_in(app, browser, server, "operator", **DESKTOP)
    page.goto(server.url + "/forms/trial_set")
    assert page.get_attribute("#f-LastName", "maxlength") == "80"
    page.fill("#f-LastName", "")
    page.locator("#f-LastName").press_sequentially("長" * 100, delay=0)
    assert len(page.input_value("#f-LastName")) == 80  # the browser stops at the org's limit
    # A request that bypasses the browser (maxlength removed) is refused by the server, in place.
    _fill_trial(page, last_name="長" * 1000)
    page.evaluate("document.querySelector('#f-LastName').removeAttribute('maxlength')")
    page.fill("#f-LastName", "長" * 1000)
    page.click("button[value=confirm]")
    assert "80 文字以内で入力してください（今 1000 文字）" in page.inner_text("#f-LastName-error")


def test_the_done_page_shows_a_failed_write_with_its_reason_and_no_confirmation_mail_goes_out(
        operator_stack, browser, devorg, smtp_sink):
    from forms.schema import load_yaml
    from forms.service import save_definition

    app, server = operator_stack
    # A definition that ignores the org's length of FirstName (40): what the org then says must reach the operator.
    text = (ROOT / "forms" / "examples" / "trial_set.yaml").read_text("utf-8").replace(
        "{name: FirstName, label: 名, type: text, required: true}",
        "{name: FirstName, label: 名, type: text, required: true, from_describe: false}")
    with dbmod.get_db(app).transaction() as session:
        save_definition(session, load_yaml(text)[0])
    page = _sign_in(app, browser, server, "operator", **DESKTOP)
    page.goto(server.url + "/forms/trial_set")
    _fill_trial(page)
    page.fill("#f-FirstName", "名" * 50)
    page.click("button[value=confirm]")
    page.click("button[value=submit]")
    page.wait_for_selector("text=受け付けました")
    status = page.locator(".writeback-status")
    status.locator("text=Salesforce に書き込めませんでした").wait_for()
    assert "文字数の上限（40 文字）を超えています" in status.inner_text()
    assert devorg.records("Lead") == []
    assert smtp_sink.messages == []  # the customer is not told their application went through

    # The next caller's entry is written: the page says so, and only then the confirmation goes out.
    page.keyboard.press("Alt+n")
    page.wait_for_url(server.url + "/forms/trial_set")
    _fill_trial(page, last_name="佐藤", email="sato@example.jp")
    page.click("button[value=confirm]")
    page.click("button[value=submit]")
    page.locator(".writeback-status", has_text="Salesforce に書き込みました").wait_for()
    [mail] = smtp_sink.wait_for(1)
    assert mail.rcpt_tos == ["sato@example.jp"]
    assert [lead["LastName"] for lead in devorg.records("Lead")] == ["佐藤"]


# --- keyboard flow (issue case 4) --------------------------------------------------------------

def test_an_operator_types_through_the_form_with_enter_and_a_stray_enter_never_sends(
        operator_stack, browser, devorg, seed_mirror_on):
    from tests.forms.helpers import submissions

    app, server = operator_stack
    member_id = devorg.insert("Lead", LastName="山田", FirstName="花子", LastNameKana__c="ヤマダ",
                              FirstNameKana__c="ハナコ", Phone="090-1111-2222", Company="個人")
    seed_mirror_on(app, "Lead", devorg.get("Lead", member_id))
    page = _sign_in(app, browser, server, "operator", **DESKTOP)
    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.goto(server.url + "/forms/trial_set")
    # Chromium applies autofocus just after load: wait for it rather than race it.
    page_until(page, "document.activeElement && document.activeElement.id === 'lookup'")
    page.keyboard.type("0901111")
    page.wait_for_selector("#lookup-results [role=option][aria-selected=true]")
    page.keyboard.press("Enter")
    page.wait_for_url("**/forms/trial_set?person=*")
    # The customer is chosen and the cursor waits in the first field still empty.
    page_until(page, "document.activeElement && document.activeElement.id === 'f-Email'")

    page.goto(server.url + "/forms/trial_set")
    page.click("#f-LastName")
    page.keyboard.type("佐藤")
    page.keyboard.press("Enter")  # to 名, without posting anything
    assert page.evaluate("document.activeElement.id") == "f-FirstName"
    assert page.locator(".error-text").count() == 0
    page.keyboard.press("Enter")  # 名 left empty: said in place, once, and on to セイ
    assert page.inner_text("#f-FirstName-error") == "入力してください。"
    assert page.locator(".error-text").count() == 1
    assert page.evaluate("document.activeElement.id") == "f-LastNameKana__c"
    page.focus("#f-FirstName")
    page.keyboard.type("次郎")
    page.keyboard.press("Enter")
    assert page.locator(".error-text").count() == 0
    for text in ("さとう", "じろう", "08098765432"):
        page.keyboard.type(text)
        page.keyboard.press("Enter")
    # Email is optional: Enter after the phone lands in Email, not in the next required field.
    assert page.evaluate("document.activeElement.id") == "f-Email"
    page.keyboard.type("jiro@example.jp")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "f-PostalCode"
    assert page.input_value("#f-Email") == "jiro@example.jp" and page.input_value("#f-PostalCode") == ""
    assert posts == []  # no server round trip so far
    page.keyboard.type("1600002")
    page_until(page, "document.querySelector('#f-City').value !== ''")
    page.fill("#f-Street", "四谷坂町1-2")
    page.click("button[value=confirm]")
    page.wait_for_selector("table.confirm")
    page.keyboard.press("Enter")  # stray keys on arrival send nothing
    page.keyboard.press("Space")
    page.wait_for_timeout(300)
    assert page.locator("table.confirm").count() == 1 and submissions(app) == []
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.value") == "submit"
    page.keyboard.press("Enter")
    page.wait_for_selector("text=受け付けました")
    assert len(submissions(app)) == 1


# --- operator look-up (issue case 3) -------------------------------------------------------------

def test_an_operator_tells_two_namesakes_apart_sees_no_match_and_is_warned_of_a_duplicate(
        operator_stack, browser, seed_mirror_on):
    from tests.forms.conftest import person

    app, server = operator_stack
    seed_mirror_on(app, "Lead", person("Lead", LastName="佐藤", FirstName="拓真", LastNameKana__c="サトウ",
                                       FirstNameKana__c="タクマ", Phone="+81364963255", PostalCode="160-0002",
                                       State="東京都", City="新宿区", Street="四谷坂町1-2"))
    seed_mirror_on(app, "Contact", person("Contact", LastName="佐藤", FirstName="拓真", LastNameKana__c="サトウ",
                                          FirstNameKana__c="タクマ", Phone="+81453334444", MailingState="神奈川県",
                                          MailingCity="横浜市", MailingStreet="中区1-1"))
    page = _operator_at_lookup(app, browser, server)
    page.keyboard.type("さとう")
    page.wait_for_selector("#lookup-results [role=option]")
    rows = page.locator("#lookup-results [role=option]").all_inner_texts()
    assert any("リード" in r and "東京都新宿区四谷坂町1-2" in r for r in rows), rows
    page.fill("#lookup", "たなか")
    page.wait_for_selector("#lookup-results li.none")
    assert "該当なし" in page.inner_text("#lookup-results")

    # A caller not chosen in the look-up, whose number is already known: warned before a new record.
    page.click("#f-LastName")
    for text in ("佐藤", "拓真", "さとう", "たくま", "03-6496-3255"):
        page.keyboard.type(text)
        page.keyboard.press("Enter")
    page.fill("#f-PostalCode", "160-0002")
    page.fill("#f-State", "東京都")
    page.fill("#f-City", "新宿区")
    page.fill("#f-Street", "四谷坂町1-2")
    page.click("button[value=confirm]")
    warning = page.locator(".duplicates")
    assert "すでに登録されています" in warning.inner_text()
    assert "四谷坂町1-2" in warning.inner_text()
    if not DOCS_IMG.joinpath("forms-operator-duplicate.png").exists():
        page.screenshot(path=str(DOCS_IMG / "forms-operator-duplicate.png"), full_page=True)
    warning.locator("a").first.click()  # it is the same person: choose them instead
    page.wait_for_url("**/forms/trial_set?person=*")
    assert "選択中のお客様" in page.inner_text("body")


def test_a_member_calling_in_is_found_as_a_contact_and_updated_instead_of_becoming_a_new_lead(
        operator_stack, browser, devorg, seed_mirror_on):
    from tests.forms.helpers import all_status, work_until

    app, server = operator_stack
    member = devorg.insert("Contact", LastName="伊藤", FirstName="誠", LastNameKana__c="イトウ",
                           FirstNameKana__c="マコト", Phone="045-123-4567", MailingPostalCode="231-0023",
                           MailingState="神奈川県", MailingCity="横浜市", MailingStreet="中区山下町1-1")
    seed_mirror_on(app, "Contact", devorg.get("Contact", member))
    page = _operator_at_lookup(app, browser, server)  # trial_set is a Lead form
    page.keyboard.type("045123")
    page.wait_for_selector("#lookup-results [role=option][aria-selected=true]")
    assert "取引先責任者" in page.inner_text("#lookup-results")
    page.keyboard.press("Enter")
    page.wait_for_url("**/forms/trial_set?person=*")
    assert page.input_value("#f-City") == "横浜市" and page.input_value("#f-Street") == "中区山下町1-1"
    page.fill("#f-Email", "makoto@example.jp")
    page.click("button[value=confirm]")
    page.click("button[value=submit]")
    page.locator(".writeback-status", has_text="Salesforce に書き込みました").wait_for()
    work_until(app, all_status(app, "written"))
    assert devorg.records("Lead") == []  # no duplicate of the member
    contact = devorg.get("Contact", member)
    assert (contact["Email"], contact["MailingCity"]) == ("makoto@example.jp", "横浜市")
    assert [t["WhoId"] for t in devorg.records("Task")] == [member]


def test_an_operator_finds_a_member_by_phone_suffix_part_of_the_email_or_member_number(
        operator_stack, browser, devorg, seed_mirror_on):
    app, server = operator_stack
    member = devorg.insert("Contact", LastName="佐藤", FirstName="次郎", LastNameKana__c="サトウ",
                           FirstNameKana__c="ジロウ", Phone="03-6496-3255", Email="sato.jiro@example.jp",
                           Tsunagi_Key__c="member-000123", MailingState="東京都", MailingCity="新宿区",
                           MailingStreet="四谷坂町1-2")
    seed_mirror_on(app, "Contact", devorg.get("Contact", member))
    # Someone else whose number starts, rather than ends, with the same digits is not a suffix match.
    other = devorg.insert("Contact", LastName="高橋", FirstName="花子", Phone="06-6496-3256",
                          Email="jiro.hanako@example.jp", Tsunagi_Key__c="member-000999")
    seed_mirror_on(app, "Contact", devorg.get("Contact", other))
    page = _operator_at_lookup(app, browser, server)

    for typed in ("6496-3255", "jiro@", "member-000123", "ＭＥＭＢＥＲ－０００１２３"):
        rows = lookup_rows(page, typed)
        assert len(rows) == 1 and "佐藤 次郎" in rows[0], (typed, rows)
        assert "会員番号 member-000123" in rows[0], rows
    page.keyboard.press("Enter")
    page.wait_for_url("**/forms/trial_set?person=*")
    assert page.input_value("#f-Email") == "sato.jiro@example.jp"


# --- deliverable addresses (issue case 5) -------------------------------------------------------

def test_a_customer_on_a_phone_cannot_send_an_address_without_a_house_number(operator_stack, browser, devorg):
    from tests.forms.helpers import all_status, work_until

    app, server = operator_stack
    page = browser.new_page(**PHONE)
    page.goto(server.url + "/f/materials_request")
    for field, text in (("#f-LastName", "中村"), ("#f-FirstName", "葵"), ("#f-LastNameKana__c", "なかむら"),
                        ("#f-FirstNameKana__c", "あおい"), ("#f-Email", "aoi@example.jp")):
        page.fill(field, text)
    page.locator("#f-PostalCode").press_sequentially("1600002")
    page_until(page, "document.querySelector('#f-Street').value !== ''")
    assert page.input_value("#f-Street") == "四谷坂町"
    assert page.evaluate("document.activeElement.id") == "f-HouseNumber"  # the house number is next
    page.check("#f-_privacy")  # the privacy-policy consent every public 資料請求 needs
    page.click("button[value=confirm]")  # sent without it
    assert "番地を入力してください" in page.inner_text("#f-HouseNumber-error")
    page.fill("#f-HouseNumber", "１−２")
    page.fill("#f-Building", "コーポ四谷 101")
    page.click("button[value=confirm]")
    page.wait_for_selector("table.confirm")
    assert page.inner_text("[data-confirm=Street]") == "四谷坂町1-2 コーポ四谷 101"
    page.click("button[value=submit]")
    page.wait_for_selector("text=送信しました")
    work_until(app, all_status(app, "written"))
    (lead,) = devorg.records("Lead")
    assert (lead["City"], lead["Street"]) == ("新宿区", "四谷坂町1-2 コーポ四谷 101")
