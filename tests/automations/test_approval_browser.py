"""A large broadcast from preparation to launch in a real Chromium, as a marketer and two admins do it:
the marketer prepares it and test-sends it to their own address (a real SMTP sink), cannot launch it;
the same person made an admin still cannot approve their own; a second admin approves; it launches;
an edit after approval needs approval again; the test mail never reaches a member and the sent-mail
log marks it テスト送信. Screenshots of the test send and the approval screen for docs/admin.md."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

import db
from automations.models import Automation
from mail.models import MailConsent
from people.models import User
from people.service import create_user
from tests.automations.helpers import WINTER_BROADCAST, load, run, template, tokyo, upsert
from tests.fixtures.app import TEST_PASSWORD
from tests.fixtures.browser import console_errors, keep_screenshot, log_in
from tests.mail.conftest import MAIL_SETTINGS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MEMBERS = 5
BROADCAST = WINTER_BROADCAST


def _sign_in(browser, server, email: str, problems: list[str]):
    """A page of its own (own cookies) signed in as `email`; its console errors go to `problems`."""
    page = browser.new_context(viewport={"width": 1100, "height": 900}).new_page()
    console_errors(page, problems)
    return log_in(page, server, email)


def _enabled(app) -> bool:
    with db.get_db(app).transaction() as session:
        return bool(session.scalar(select(Automation.enabled).where(Automation.key == "winter-news")))


def _drain(app) -> None:
    from mail.sender import sender_for

    with app.app_context():
        while sender_for(app).process("browser-test") > 0:
            pass


def test_a_marketer_prepares_and_test_sends_a_large_broadcast_and_a_second_admin_approves_it(
        make_app, browser, live_server, smtp_sink):
    app = make_app(smtp_url=smtp_sink.url, broadcast_approval_threshold=3, **MAIL_SETTINGS)
    template(app, "winter", subject="{{ person.LastName }} 様 冬のお知らせ",
             html="<html><body><p>{{ person.LastName }} 様</p><p>冬の特売のお知らせです。</p></body></html>")
    load(app, "segments:\n  - {key: all-members, name: 全員, objects: [Contact], conditions: []}\n", enable=None)
    members = [f"member{i}@example.jp" for i in range(MEMBERS)]
    for i, address in enumerate(members):
        upsert(app, "Contact", LastName=f"会員{i}", Email=address)
    with db.get_db(app).transaction() as session:
        session.add_all(MailConsent(address=a, granted=True, source="import") for a in members)
        create_user(session, "marketer@example.jp", "marketer", TEST_PASSWORD, name="広報 花子")
        create_user(session, "admin2@example.jp", "admin", TEST_PASSWORD, name="管理 次郎")
    server = live_server(app)
    problems: list[str] = []

    # The marketer prepares the broadcast.
    marketer = _sign_in(browser, server, "marketer@example.jp", problems)
    marketer.goto(server.url + "/admin/automations/new")
    marketer.fill("textarea#document", BROADCAST)
    marketer.get_by_role("button", name="保存").click()
    marketer.wait_for_url(server.url + "/admin/automations/winter-news")

    # … test-sends it to their own address (offered by default) with a real member as sample data.
    section = marketer.locator("section#test-send")
    assert section.locator("input[name=to]").input_value() == "marketer@example.jp"
    section.locator("input[name=sample]").fill("会員1")
    section.get_by_role("button", name="テスト送信").click()
    marketer.wait_for_selector(".flash.success")
    assert "marketer@example.jp にテストメールを送りました" in marketer.locator(".flash.success").inner_text()
    _drain(app)
    [test_mail] = smtp_sink.wait_for(1)
    assert test_mail.rcpt_tos == ["marketer@example.jp"]
    assert str(test_mail.message["Subject"]) == "【テスト】会員1 様 冬のお知らせ"
    marketer.reload()
    assert marketer.locator("table.test-sends tbody tr").count() == 1
    keep_screenshot(marketer, "test-send.png")

    # … cannot launch it: 5 people is above the threshold of 3.
    marketer.get_by_role("button", name=f"{MEMBERS} 人にメールを送って有効にする（承認が必要）").click()
    marketer.wait_for_url(server.url + "/admin/automations/winter-news/approval")
    assert "別の管理者の承認" in marketer.locator(".flash.error").inner_text()
    assert not _enabled(app)
    marketer.get_by_role("button", name="承認を依頼").click()
    marketer.wait_for_selector(".flash.success")
    assert "承認待ち" in marketer.locator(".approval-status").inner_text()

    # The same person made an admin still cannot approve what they prepared.
    with db.get_db(app).transaction() as session:
        session.execute(update(User).where(User.email == "marketer@example.jp").values(role="admin"))
    marketer.reload()
    assert "自分が準備・依頼した一斉配信は承認できません" in marketer.locator("form.approval-actions").inner_text()
    assert marketer.get_by_role("button", name=f"{MEMBERS} 人への配信を承認").is_disabled()

    # A second admin sees the count, the mail and the test send, and approves.
    admin = _sign_in(browser, server, "admin2@example.jp", problems)
    admin.goto(server.url + "/admin/automations/winter-news/approval")
    assert admin.locator(".approval-recipients").inner_text() == f"{MEMBERS} 人"
    assert admin.locator(".mail-subject").inner_text() == "会員0 様 冬のお知らせ"
    assert "marketer@example.jp" in admin.locator("table.test-sends").inner_text()
    keep_screenshot(admin, "broadcast-approval.png")
    admin.get_by_role("button", name=f"{MEMBERS} 人への配信を承認").click()
    admin.wait_for_selector(".flash.success")
    assert "承認済み" in admin.locator(".approval-status").inner_text()
    assert "管理 次郎" in admin.locator(".approval-status").inner_text()

    # It launches.
    marketer.reload()
    marketer.get_by_role("button", name=f"{MEMBERS} 人に一斉配信を開始（有効にする）").click()
    marketer.wait_for_url(server.url + "/admin/automations/winter-news")
    assert _enabled(app)

    # An edit after approval voids it: the broadcast is held back until approved again.
    marketer.goto(server.url + "/admin/automations/winter-news/edit")
    marketer.fill("textarea#document", BROADCAST.replace("name: 冬のお知らせ", "name: 冬のお知らせ（改）"))
    marketer.get_by_role("button", name="保存").click()
    marketer.wait_for_url(server.url + "/admin/automations/winter-news")
    assert "承認" in marketer.locator(".flash.warning").first.inner_text()
    assert "未承認" in marketer.locator(".approval-state").inner_text()
    assert not _enabled(app)
    marketer.goto(server.url + "/admin/automations/winter-news/approval")
    marketer.get_by_role("button", name="承認を依頼").click()
    marketer.wait_for_selector(".flash.success")
    admin.goto(server.url + "/admin/automations/winter-news/approval")
    admin.get_by_role("button", name=f"{MEMBERS} 人への配信を承認").click()
    admin.wait_for_selector(".flash.success")
    admin.get_by_role("button", name=f"{MEMBERS} 人に一斉配信を開始（有効にする）").click()
    admin.wait_for_url(server.url + "/admin/automations/winter-news")
    assert _enabled(app)

    # At its time every member gets the real mail; the test mail went to nobody but the marketer.
    run(app, tokyo(2027, 1, 10, 9, 1))
    _drain(app)
    received = smtp_sink.wait_for(1 + MEMBERS)
    assert sorted(r for m in received[1:] for r in m.rcpt_tos) == members
    assert [m.rcpt_tos for m in received if str(m.message["Subject"]).startswith("【テスト】")] == [
        ["marketer@example.jp"]]

    # The sent-mail log marks the test send.
    admin.goto(server.url + "/admin/mail/log")
    test_rows = admin.locator("table.mail-log tbody tr.test-send")
    assert test_rows.count() == 1
    assert "テスト送信" in test_rows.inner_text() and "marketer@example.jp" in test_rows.inner_text()
    assert admin.locator("table.mail-log tbody tr").count() == 1 + MEMBERS
    assert problems == []
