"""Test sends of a template, as a marketer does them: the mail reaches only the typed address through
the real SMTP path, marked 【テスト】, with a real customer's data; never the customer, never logged
to Salesforce or counted; bad input gets a clear Japanese error; roles, CSRF and a rate limit hold."""

from __future__ import annotations

import re

from sqlalchemy import func, select

import db
from activity.models import Activity
from mail.models import OutboxMail, Suppression
from mail.testsend import TEST_SENDS_PER_WINDOW
from tests.automations.helpers import upsert
from writeback.models import WritebackItem

TOKEN = r'name="csrf_token"[^>]*value="([^"]+)"'


def _customer(app) -> str:
    return upsert(app, "Contact", LastName="山田", FirstName="花子", Email="hanako@example.jp")


def _marketer(sign_in, mail_app):
    return sign_in("marketer", client=mail_app.test_client())


def _own_address(client) -> str:
    page = client.get("/admin/mail/templates/news").get_data(as_text=True)
    return re.search(r'name="to" value="([^"]+)"', page).group(1)


def test_a_template_test_send_reaches_only_the_typed_address_marked_as_a_test(
        mail_app, add_template, sign_in, smtp_sink, drain):
    add_template("news")
    hanako = _customer(mail_app)
    marketer = _marketer(sign_in, mail_app)
    own = _own_address(marketer)
    assert own.startswith("marketer")  # the staff member's own address is offered
    response = marketer.post("/admin/mail/templates/news/test-send", data={"to": own, "sample": "山田"})
    assert response.status_code == 302
    drain()
    [mail] = smtp_sink.wait_for(1)
    assert mail.rcpt_tos == [own]
    assert str(mail.message["Subject"]) == "【テスト】山田 様へのお知らせ"  # the customer's data, marked as a test
    html = mail.message.get_body(preferencelist=("html",)).get_content()
    assert 'href="https://shop.example.jp/sale?a=1&b=2"' in html and "/m/o/" not in html  # no tracking
    with db.get_db(mail_app).transaction() as session:
        row = session.scalars(select(OutboxMail)).one()
        assert (row.origin, row.person_id, row.status) == ("test", None, "sent")
    with mail_app.app_context():
        from mail.jobs import log_tasks

        log_tasks({})
    with db.get_db(mail_app).transaction() as session:
        assert session.scalar(select(func.count()).select_from(Activity)) == 0
        assert session.scalar(select(func.count()).select_from(WritebackItem)) == 0
        assert session.scalar(select(OutboxMail.logged_at)) is not None
        from mail.outbox import recent_marketing_mails

        assert recent_marketing_mails(session, own, db.utcnow().replace(year=2000)) == 0  # not in the cap
    log = marketer.get("/admin/mail/log").get_data(as_text=True)
    assert "テスト送信" in log and "【テスト】山田 様へのお知らせ" in log
    page = marketer.get(f"/people/{hanako}").get_data(as_text=True)
    assert "【テスト】" not in page  # nothing was sent to her
    template_page = marketer.get("/admin/mail/templates/news").get_data(as_text=True)
    assert "これまでのテスト送信" in template_page and own in template_page


def test_without_a_sample_the_built_in_values_are_used_and_consent_is_not_needed(
        mail_app, add_template, sign_in, smtp_sink, drain):
    add_template("news")
    marketer = _marketer(sign_in, mail_app)
    assert marketer.post("/admin/mail/templates/news/test-send",
                         data={"to": "tester@example.jp", "sample": ""}).status_code == 302
    drain()
    [mail] = smtp_sink.wait_for(1)
    assert str(mail.message["Subject"]) == "【テスト】見本 様へのお知らせ"


def test_bad_input_gets_a_clear_japanese_error_and_nothing_is_queued(mail_app, add_template, sign_in):
    add_template("news")
    _customer(mail_app)
    upsert(mail_app, "Lead", LastName="山田", Company="-", Email="yamada2@example.jp")
    with db.get_db(mail_app).transaction() as session:
        session.add(Suppression(address="bounced@example.jp", reason="hard_bounce"))
    marketer = _marketer(sign_in, mail_app)

    def refused(data: dict[str, str], message: str) -> None:
        response = marketer.post("/admin/mail/templates/news/test-send", data=data)
        assert response.status_code == 400
        assert message in response.get_data(as_text=True)

    refused({"to": "", "sample": ""}, "テスト送信先のメールアドレスを入力してください。")
    refused({"to": "not an address", "sample": ""}, "形式が正しくありません")
    refused({"to": "bounced@example.jp", "sample": ""}, "このアドレスには送れません")
    refused({"to": "hanako@example.jp", "sample": ""}, "お客様のアドレスです")
    refused({"to": "me@example.jp", "sample": "存在しない人"}, "見つかりません")
    refused({"to": "me@example.jp", "sample": "山田"}, "複数見つかりました")
    with db.get_db(mail_app).transaction() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMail)) == 0
    # Typed explicitly and confirmed, a customer's address may get a test.
    assert marketer.post("/admin/mail/templates/news/test-send",
                         data={"to": "hanako@example.jp", "sample": "", "confirm_customer": "1"}).status_code == 302


def test_test_sends_are_rate_limited_per_staff_member(mail_app, add_template, sign_in):
    add_template("news")
    marketer = _marketer(sign_in, mail_app)
    for _n in range(TEST_SENDS_PER_WINDOW):
        assert marketer.post("/admin/mail/templates/news/test-send",
                             data={"to": "me@example.jp", "sample": ""}).status_code == 302
    response = marketer.post("/admin/mail/templates/news/test-send", data={"to": "me@example.jp", "sample": ""})
    assert response.status_code == 400
    assert "通までです" in response.get_data(as_text=True)
    other = _marketer(sign_in, mail_app)  # another person is not held back by the first one's tests
    assert other.post("/admin/mail/templates/news/test-send",
                      data={"to": "me@example.jp", "sample": ""}).status_code == 302


def test_only_marketers_and_admins_send_tests(mail_app, add_template, sign_in):
    add_template("news")
    assert mail_app.test_client().post("/admin/mail/templates/news/test-send",
                                       data={"to": "me@example.jp"}).status_code == 302  # to sign-in
    for role in ("operator", "sales"):
        client = sign_in(role, client=mail_app.test_client())
        assert client.post("/admin/mail/templates/news/test-send", data={"to": "me@example.jp"}).status_code == 403
    assert _marketer(sign_in, mail_app).post("/admin/mail/templates/missing/test-send",
                                             data={"to": "me@example.jp"}).status_code == 404


def test_a_test_send_without_a_csrf_token_is_refused(make_app, add_template):
    app = make_app(config={"WTF_CSRF_ENABLED": True})
    from people.service import create_user
    from tests.fixtures.app import TEST_PASSWORD

    with db.get_db(app).transaction() as session:
        create_user(session, "m@example.jp", "marketer", TEST_PASSWORD)
    client = app.test_client()
    add_template("news")
    token = re.search(TOKEN, client.get("/login").get_data(as_text=True)).group(1)
    assert client.post("/login", data={"email": "m@example.jp", "password": TEST_PASSWORD,
                                       "csrf_token": token}).status_code == 302
    assert client.post("/admin/mail/templates/news/test-send", data={"to": "me@example.jp"}).status_code == 400
    page = client.get("/admin/mail/templates/news").get_data(as_text=True)
    token = re.search(TOKEN, page).group(1)
    assert client.post("/admin/mail/templates/news/test-send",
                       data={"to": "me@example.jp", "csrf_token": token}).status_code == 302


def test_the_unsubscribe_link_of_a_test_mail_shows_what_a_customer_sees_and_changes_nothing(
        mail_app, add_template, sign_in, smtp_sink, drain):
    from urllib.parse import urlparse

    from mail.models import MailConsent

    add_template("news")
    marketer = _marketer(sign_in, mail_app)
    own = _own_address(marketer)
    assert marketer.post("/admin/mail/templates/news/test-send", data={"to": own, "sample": ""}).status_code == 302
    drain()
    [mail] = smtp_sink.wait_for(1)
    link = urlparse(mail.message["List-Unsubscribe"][1:-1]).path
    visitor = mail_app.test_client()
    page = visitor.get(link).get_data(as_text=True)
    assert "テスト送信のメールです" in page and "配信を停止する" not in page
    # Checking the mail provider's one-click button too: still nobody is unsubscribed.
    answer = visitor.post(link, data={"List-Unsubscribe": "One-Click"}).get_data(as_text=True)
    assert "テスト送信のメールです" in answer
    with db.get_db(mail_app).transaction() as session:
        assert session.scalar(select(func.count()).select_from(Suppression)) == 0
        assert session.scalar(select(func.count()).select_from(MailConsent)) == 0
