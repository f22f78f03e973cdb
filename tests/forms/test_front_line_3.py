"""The front line in Chromium, continued: infix look-up, the visit memo, 取り消す after the Task was
written, 担当のお客様 and the rep's phone in the absent mail (issue 14).

Each test follows one user's steps (phone viewport for a field rep, desktop for an operator or an
admin) against the real app server, the dev org and a real SMTP sink.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

import db as dbmod
from people.models import User
from people.service import create_user
from tests.fixtures.app import TEST_PASSWORD
from tests.forms.helpers import lookup_rows
from tests.forms.test_front_line import DESKTOP, PHONE, _app, _member, _operator_at_lookup, _settle, _sign_in, _visits

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def _rep_user(app, devorg, seed_mirror_on, phone: str | None = "03-5555-0101", n: int = 1) -> str:
    """A Salesforce User for the rep (in the org and the mirror); returns its Id."""
    fields = {"Phone": phone} if phone else {}
    user_id = devorg.insert("User", Username=f"rep-h14-{n}@coop.example.jp", LastName="営業", FirstName="花子",
                            Email=f"rep-h14-{n}@coop.example.jp", Alias=f"reph{n}", **fields)
    seed_mirror_on(app, "User", devorg.get("User", user_id))
    return user_id


def _sign_in_rep(app, browser, server, sf_user_id: str | None, **page_options):
    """A field rep signed in on a phone, mapped to `sf_user_id` as an admin would on the user page."""
    page = _sign_in(app, browser, server, "sales", name="営業 花子", **page_options)
    if sf_user_id:
        with dbmod.get_db(app).transaction() as session:
            user = session.scalar(select(User).where(User.email == "sales-front@example.jp"))
            user.salesforce_user_id = sf_user_id
    return page


def _closed_window_app(make_app, devorg, smtp_sink, tmp_path):
    """The app with the absent automation's send window closed right now (its mail waits for it)."""
    app = _app(make_app, devorg, tmp_path, smtp_url=smtp_sink.url, forms_visit_undo_seconds=60)
    from zoneinfo import ZoneInfo

    now = datetime.now(ZoneInfo(app.config["TSUNAGI"].timezone))
    # A window that is closed now and does not cross midnight (a window's start must be before its
    # end): later today in the small hours, else from midnight to an hour ago. (now+3h..now+4h
    # crossed midnight from 20:00 local time, and the test failed every evening.)
    if now.hour < 2:
        start, end = now + timedelta(hours=1), now + timedelta(hours=2)
    else:
        start, end = now.replace(hour=0, minute=0), now - timedelta(hours=1)
    document = yaml.safe_load((ROOT / "automations" / "examples" / "absent_follow_up.yaml").read_text("utf-8"))
    for automation in document["automations"]:
        automation["window"] = {"start": start.strftime("%H:%M"), "end": end.strftime("%H:%M")}
    path = tmp_path / "absent-closed.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    loaded = app.test_cli_runner().invoke(args=["automations", "load", str(path)])
    assert loaded.exit_code == 0, loaded.output
    return app


def _outbox(app):
    from mail.models import OutboxMail

    with dbmod.get_db(app).transaction() as session:
        return [(m.to_address, m.status, m.skip_reason) for m in session.scalars(select(OutboxMail))]


# --- the visit memo and 取り消す after the Task was written (cases 3 and 5) -----------------------

def test_a_rep_leaves_a_memo_then_withdraws_the_written_visit_before_its_mail_goes_out(
        make_app, devorg, smtp_sink, tmp_path, live_server, browser, seed_mirror_on):
    app = _closed_window_app(make_app, devorg, smtp_sink, tmp_path)
    server = live_server(app)
    member = _member(app, devorg, seed_mirror_on)
    _settle(app, smtp_sink)  # the Task describe is fetched on its own (the memo's length comes from it)
    page = _sign_in_rep(app, browser, server, None, **PHONE)
    page.goto(server.url + f"/forms/visit/{member}")
    assert page.get_attribute("#f-Description", "maxlength") == "32000"  # Task.Description's limit
    page.fill("#f-Description", "犬に注意。夕方なら在宅とのこと")
    page.locator("button:has-text('不在')").tap()
    page.wait_for_selector(".recorded")
    assert "メモ: 犬に注意。夕方なら在宅とのこと" in page.locator(".recorded").inner_text()

    _settle(app, smtp_sink)  # the undo window passes: the Task is written; the mail waits for its window
    (task,) = _visits(devorg, member)
    assert (task["Visit_Result__c"], task["Description"]) == ("不在", "犬に注意。夕方なら在宅とのこと")
    assert smtp_sink.messages == [] and _outbox(app) == []

    # Later the same day the rep learns the customer was in the garden: the visit is withdrawn.
    page.goto(server.url + f"/forms/visit/{member}")
    assert "本日の訪問: 不在" in page.inner_text(".today")
    assert page.input_value("#f-Description") == "犬に注意。夕方なら在宅とのこと"  # today's memo is shown
    page.locator("button:has-text('本日の訪問記録を取り消す')").tap()
    page.wait_for_selector("text=伊藤 誠 様の訪問記録を取り消しました。")
    body = page.inner_text("body")
    assert "Salesforce に書き込み済みの訪問記録（ToDo）を削除します。" in body
    assert "お客様へのご案内メールは送信前に止めました。" in body
    _settle(app, smtp_sink)
    assert _visits(devorg, member) == []  # deleted in Salesforce
    assert smtp_sink.messages == []  # and the customer never got the mail
    assert [(status, reason) for _to, status, reason in _outbox(app)] in ([], [("skipped", "visit_withdrawn")])
    page.goto(server.url + f"/forms/visit/{member}")
    assert page.locator(".today").count() == 0  # no visit today any more


def test_a_rep_updates_the_memo_by_tapping_again_and_is_told_the_mail_already_went_out(
        make_app, devorg, smtp_sink, tmp_path, live_server, browser, seed_mirror_on):
    app = _app(make_app, devorg, tmp_path, smtp_url=smtp_sink.url, forms_visit_undo_seconds=60)
    server = live_server(app)
    member = _member(app, devorg, seed_mirror_on)
    rep = _rep_user(app, devorg, seed_mirror_on, phone="03-5555-0101")
    page = _sign_in_rep(app, browser, server, rep, **PHONE)
    page.goto(server.url + f"/forms/visit/{member}")
    page.fill("#f-Description", "ポストに名刺")
    page.locator("button:has-text('不在')").tap()
    page.wait_for_selector(".recorded")
    _settle(app, smtp_sink)
    smtp_sink.wait_for(1, timeout=10)
    html = smtp_sink.messages[0].message.get_body(("html",)).get_content()
    assert "担当の営業 花子（電話 03-5555-0101）までご連絡ください" in html  # the rep's Salesforce phone

    # A second tap on the same visit with the memo changed: the one Task is updated.
    page.goto(server.url + f"/forms/visit/{member}")
    assert page.input_value("#f-Description") == "ポストに名刺"
    page.fill("#f-Description", "ポストに名刺。次回は土曜")
    page.locator("button:has-text('不在')").tap()
    page.wait_for_selector(".recorded")
    assert "本日の訪問記録を更新しました" in page.inner_text(".recorded")
    _settle(app, smtp_sink)
    (task,) = _visits(devorg, member)
    assert task["Description"] == "ポストに名刺。次回は土曜"
    assert len(smtp_sink.messages) == 1

    # 取り消す the same day: the Task goes, and the rep is told honestly the mail cannot be called back.
    page.goto(server.url + f"/forms/visit/{member}")
    page.locator("button:has-text('本日の訪問記録を取り消す')").tap()
    page.wait_for_selector("text=伊藤 誠 様の訪問記録を取り消しました。")
    assert "ご案内メールはすでに送信済みのため、取り消せません" in page.inner_text("body")
    _settle(app, smtp_sink)
    assert _visits(devorg, member) == []
    assert len(smtp_sink.messages) == 1

    # The rep goes back, finds the customer at home after all, and withdraws that visit too.
    page.goto(server.url + f"/forms/visit/{member}")
    page.locator("button:has-text('在宅')").tap()
    page.wait_for_selector("text=伊藤 誠 様の訪問を記録しました: 在宅")
    _settle(app, smtp_sink)
    assert [t["Visit_Result__c"] for t in _visits(devorg, member)] == ["在宅"]
    page.goto(server.url + f"/forms/visit/{member}")
    page.locator("button:has-text('本日の訪問記録を取り消す')").tap()
    page.wait_for_selector("text=伊藤 誠 様の訪問記録を取り消しました。")
    _settle(app, smtp_sink)
    assert _visits(devorg, member) == []  # the second visit's own delete, not the first one's again


def test_a_memo_longer_than_the_task_description_is_refused_with_the_reason(
        make_app, devorg, smtp_sink, tmp_path, live_server, browser, seed_mirror_on):
    app = _app(make_app, devorg, tmp_path, smtp_url=smtp_sink.url, forms_visit_undo_seconds=60)
    server = live_server(app)
    member = _member(app, devorg, seed_mirror_on)
    _settle(app, smtp_sink)
    page = _sign_in_rep(app, browser, server, None, **PHONE)
    page.goto(server.url + f"/forms/visit/{member}")
    # A pasted text past the limit (the browser's maxlength is lifted, as an old browser would).
    page.locator("#f-Description").evaluate("e => e.removeAttribute('maxlength')")
    page.fill("#f-Description", "あ" * 32001)
    page.locator("button:has-text('不在')").tap()
    page.wait_for_selector("#e-Description")
    assert "32000 文字以内で入力してください" in page.inner_text("#e-Description")
    assert page.input_value("#f-Description") == "あ" * 32001  # what was typed is kept
    _settle(app, smtp_sink)
    assert _visits(devorg, member) == []


def test_without_a_phone_the_absent_mail_names_no_empty_phone(visit_app_no_phone, live_server, browser, devorg,
                                                               smtp_sink, seed_mirror_on):
    app = visit_app_no_phone
    server = live_server(app)
    member = _member(app, devorg, seed_mirror_on)
    rep = _rep_user(app, devorg, seed_mirror_on, phone=None, n=2)
    page = _sign_in_rep(app, browser, server, rep, **PHONE)
    page.goto(server.url + f"/forms/visit/{member}")
    page.locator("button:has-text('不在')").tap()
    page.wait_for_selector(".recorded")
    _settle(app, smtp_sink)
    smtp_sink.wait_for(1, timeout=10)
    html = smtp_sink.messages[0].message.get_body(("html",)).get_content()
    assert "電話" not in html
    assert "ご不明な点は 生活協同組合つなぎ 0120-000-000 までお問い合わせください" in html


@pytest.fixture
def visit_app_no_phone(make_app, devorg, smtp_sink, tmp_path):
    return _app(make_app, devorg, tmp_path, smtp_url=smtp_sink.url, forms_visit_undo_seconds=60,
                mail_contact="生活協同組合つなぎ 0120-000-000")


# --- 担当のお客様 (case 4) ---------------------------------------------------------------------------

_KANA = ["アイカワ", "イシダ", "ウエノ", "エンドウ", "オガワ", "カトウ", "キムラ", "クボ", "ケンモツ", "コバヤシ",
         "サイトウ", "シミズ", "スズキ", "セキ", "ソノダ", "タナカ", "チバ", "ツジ", "テラダ", "トミタ",
         "ナカムラ", "ニシダ", "ヌマタ", "ネモト", "ノグチ"]


def test_a_rep_pages_through_their_customers_searches_one_and_records_a_visit_in_one_tap(
        make_app, devorg, smtp_sink, tmp_path, live_server, browser, seed_mirror_on):
    from tests.forms.conftest import person

    app = _app(make_app, devorg, tmp_path, smtp_url=smtp_sink.url, forms_visit_undo_seconds=60)
    server = live_server(app)
    rep = _rep_user(app, devorg, seed_mirror_on)
    other = _rep_user(app, devorg, seed_mirror_on, n=3)
    for n, kana in enumerate(_KANA):
        seed_mirror_on(app, "Contact", person("Contact", LastName=f"顧客{n:02d}", FirstName="一郎",
                                              LastNameKana__c=kana, FirstNameKana__c="イチロウ", OwnerId=rep,
                                              MailingState="東京都", MailingCity="新宿区", MailingStreet=f"{n}-1"))
    seed_mirror_on(app, "Lead", person("Lead", LastName="他担当", FirstName="次郎", LastNameKana__c="アアア",
                                       OwnerId=other))

    # An admin says which Salesforce User the rep is, on the user page.
    admin = _sign_in(app, browser, server, "admin", **DESKTOP)
    with dbmod.get_db(app).transaction() as session:
        create_user(session, "rep-h14-1@example.jp", "sales", TEST_PASSWORD, name="営業 花子")
        rep_row = session.scalar(select(User).where(User.email == "rep-h14-1@example.jp"))
        rep_row_id = rep_row.id
    admin.goto(server.url + f"/admin/users/{rep_row_id}")
    admin.select_option("#salesforce_user_id", rep)
    admin.click("form.stack button[type=submit]")
    admin.wait_for_url(server.url + "/admin/users")
    with dbmod.get_db(app).transaction() as session:
        assert session.get(User, rep_row_id).salesforce_user_id == rep

    page = browser.new_page(**PHONE)
    page.goto(server.url + "/login")
    page.fill("input[name=email]", "rep-h14-1@example.jp")
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/")
    # The sales home itself lists the rep's customers.
    page.wait_for_selector("#customers .customer-list")
    rows = page.locator("#customers .customer-list li").all_inner_texts()
    assert len(rows) == 20 and rows[0].startswith("顧客00 一郎") and "アイカワ" in rows[0]  # in 五十音 order
    assert not any("他担当" in r for r in rows)  # someone else's customer is not listed
    page.locator("#customers a:has-text('次の 20 件')").tap()
    page.wait_for_selector("#customers .customer-list")
    rows = page.locator("#customers .customer-list li").all_inner_texts()
    assert [r.split(" ")[0] for r in rows] == [f"顧客{n}" for n in range(20, 25)]

    page.fill("#customer-q", "すずき")  # by furigana, typed in hiragana
    page.locator("#customers button:has-text('絞り込む')").tap()
    page.wait_for_selector("#customers .customer-list")
    rows = page.locator("#customers .customer-list li").all_inner_texts()
    assert len(rows) == 1 and rows[0].startswith("顧客12 一郎")
    page.locator("#customers .customer-list a").first.tap()  # the whole row is the tap target
    page.wait_for_selector("button:has-text('不在')")
    assert "顧客12 一郎" in page.inner_text("h1")


def test_a_rep_with_no_salesforce_user_is_told_why_the_list_is_empty(app, sign_in):
    from tests.forms.conftest import load_examples

    load_examples(app)
    page = sign_in("sales").get("/forms/visit").get_data(as_text=True)
    assert "Salesforce のユーザーが設定されていないため、担当のお客様を表示できません" in page


def test_the_user_page_refuses_a_salesforce_user_that_is_not_synced(app, sign_in):
    from tests.forms.conftest import load_examples

    load_examples(app)
    admin = sign_in("admin")
    with dbmod.get_db(app).transaction() as session:
        target = session.scalar(select(User).where(User.role == "admin"))
        target_id = target.id
    response = admin.post(f"/admin/users/{target_id}", data={
        "name": "x", "role": "admin", "active": "y", "salesforce_user_id": "005000000000001AAA"})
    assert response.status_code == 400
    with dbmod.get_db(app).transaction() as session:
        assert session.get(User, target_id).salesforce_user_id is None


# --- infix look-up (case 1) -------------------------------------------------------------------------

def test_an_operator_finds_a_caller_by_digits_in_the_middle_of_the_number_or_part_of_the_mail(
        make_app, devorg, tmp_path, live_server, browser, seed_mirror_on):
    app = _app(make_app, devorg, tmp_path)
    server = live_server(app)
    member = devorg.insert("Contact", LastName="佐藤", FirstName="次郎", LastNameKana__c="サトウ",
                           FirstNameKana__c="ジロウ", Phone="03-6496-3255", Email="sato.jiro@example.jp",
                           MailingState="東京都", MailingCity="新宿区", MailingStreet="四谷坂町1-2")
    seed_mirror_on(app, "Contact", devorg.get("Contact", member))
    other = devorg.insert("Contact", LastName="高橋", FirstName="花子", Phone="06-1234-5678",
                          Email="hanako@coop.example")
    seed_mirror_on(app, "Contact", devorg.get("Contact", other))
    page = _operator_at_lookup(app, browser, server)

    for typed in ("6496", "３６４９６", "ato.ji", "ple.jp"):
        rows = lookup_rows(page, typed)
        assert len(rows) == 1 and "佐藤 次郎" in rows[0], (typed, rows)
    page.keyboard.press("Enter")
    page.wait_for_url("**/forms/trial_set?person=*")
    assert page.input_value("#f-Email") == "sato.jiro@example.jp"
