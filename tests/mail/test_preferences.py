"""Unsubscribe without dead ends, the preference centre (topics), re-subscribe — as the recipient
does it in Chromium on a phone, with mail delivered to a real SMTP sink."""

from __future__ import annotations

import re
from urllib.parse import urlparse

import pytest
from sqlalchemy import select

import db
from mail.compliance import record_consent
from mail.models import MailConsent, Suppression, TopicOptOut
from tests.automations.helpers import load, outbox, run, template, tokyo, upsert
from writeback.models import WritebackItem

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def _path(url: str) -> str:
    return urlparse(url).path


def _text(mail) -> str:
    return mail.message.get_body(("plain",)).get_content()


def _preferences_path(mail) -> str:
    return _path(re.search(r"配信設定（テーマの選択）: (\S+)", _text(mail)).group(1))


def _unsubscribe_path(mail) -> str:
    return _path(mail.message["List-Unsubscribe"][1:-1])


def _rows(app, model):
    with db.get_db(app).sessionmaker() as session:
        return list(session.scalars(select(model)))


@pytest.fixture
def server(mail_app, live_server):
    return live_server(mail_app)


def test_opening_the_unsubscribe_link_again_says_it_is_done_and_one_click_still_works(
        mail_app, server, browser, add_template, enqueue, drain, smtp_sink):
    add_template()
    enqueue("first", person_id="003000000000001AAA")
    drain()
    [mail] = smtp_sink.wait_for(1)
    page = browser.new_page(**PHONE)
    page.goto(server.url + _unsubscribe_path(mail))
    page.get_by_role("button", name="配信を停止する").click()
    page.get_by_text("配信を停止しました").wait_for()

    page.goto(server.url + _unsubscribe_path(mail))  # the link again, later
    status = page.get_by_role("status")
    assert "配信停止済みです" in status.inner_text()
    assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2} に停止しました", status.inner_text())
    assert page.get_by_role("button", name="配信を停止する").count() == 0
    page.get_by_role("link", name="配信設定を開く").click()
    page.get_by_role("button", name="同意して配信を再開する").wait_for()

    # A mail provider's RFC 8058 one-click POST keeps working (and changes nothing twice).
    response = mail_app.test_client().post(_unsubscribe_path(mail), data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert [c.granted for c in _rows(mail_app, MailConsent)] == [False]
    assert len(_rows(mail_app, WritebackItem)) == 1


def test_a_tampered_link_shows_the_contact_and_mails_a_fresh_link_without_changing_anything(
        mail_app, server, browser, add_template, enqueue, drain, smtp_sink):
    add_template()
    enqueue("first")
    drain()
    [mail] = smtp_sink.wait_for(1)
    page = browser.new_page(**PHONE)
    page.goto(server.url + _unsubscribe_path(mail)[:-3] + "xyz")
    page.get_by_role("heading", name="無効なリンク").wait_for()
    contact = page.locator("section.contact")
    assert "株式会社つなぎ商店" in contact.inner_text()
    assert contact.get_by_role("link", name="03-1234-5678").get_attribute("href") == "tel:0312345678"

    page.get_by_label("メールアドレス").fill("taro@example")
    page.get_by_role("button", name="リンクを送る").click()
    assert "メールアドレスを正しく入力してください" in page.get_by_role("alert").inner_text()
    page.get_by_label("メールアドレス").fill("taro@example.jp")
    page.get_by_role("button", name="リンクを送る").click()
    page.get_by_role("heading", name="リンクをお送りしました").wait_for()
    assert _rows(mail_app, Suppression) == [] and _rows(mail_app, MailConsent) == []

    drain()
    link_mail = smtp_sink.wait_for(2)[1]
    assert link_mail.message["To"] == "taro@example.jp" and str(link_mail.message["Subject"]) == "配信設定のご案内"
    preferences = _path(re.search(r"(https?://\S+/p/\S+)", _text(link_mail)).group(1))
    page.goto(server.url + preferences)
    page.get_by_role("button", name="すべてのお知らせメールを停止する").click()
    page.get_by_text("すべてのお知らせメールの配信を停止しました").wait_for()
    assert [s.reason for s in _rows(mail_app, Suppression)] == ["unsubscribe"]

    # Asking again within the hour sends nothing more; an unknown address gets nothing either.
    for address in ("taro@example.jp", "stranger@example.jp"):
        page.goto(server.url + "/u/not-a-token")
        page.get_by_label("メールアドレス").fill(address)
        page.get_by_role("button", name="リンクを送る").click()
        page.get_by_role("heading", name="リンクをお送りしました").wait_for()
    drain()
    assert len(smtp_sink.messages) == 2



AT1, AT2 = "2026-12-01T09:00:00+09:00", "2026-12-08T09:00:00+09:00"


def _broadcasts(app, round_no, at):
    load(app, f"""
segments:
  - key: members-{round_no}
    name: 会員
    conditions: []
automations:
  - key: campaign-{round_no}
    name: 年末キャンペーン {round_no}
    trigger: {{type: broadcast, segment: members-{round_no}, at: "{at}"}}
    topic: campaign
    actions:
      - {{type: send_mail, template: campaign}}
  - key: news-{round_no}
    name: 今週のお知らせ {round_no}
    trigger: {{type: broadcast, segment: members-{round_no}, at: "{at}"}}
    topic: news
    actions:
      - {{type: send_mail, template: news}}
""")


def _received(smtp_sink, since=0):
    return sorted((m.message["To"], str(m.message["Subject"])) for m in smtp_sink.messages[since:])


def test_switching_one_topic_off_stops_that_topics_broadcasts_while_the_others_still_arrive(
        mail_app, server, browser, drain, smtp_sink):
    template(mail_app, "campaign", subject="キャンペーン {{ person.LastName }}")
    template(mail_app, "news", subject="お知らせ {{ person.LastName }}")
    upsert(mail_app, "Contact", LastName="佐藤", Email="sato@example.jp", HasOptedOutOfEmail=False)
    upsert(mail_app, "Contact", LastName="鈴木", Email="suzuki@example.jp", HasOptedOutOfEmail=False)
    with mail_app.app_context(), db.get_db(mail_app).transaction() as session:
        for address in ("sato@example.jp", "suzuki@example.jp"):
            record_consent(session, address=address, granted=True, source="form:materials_request")
    _broadcasts(mail_app, 1, AT1)
    run(mail_app, tokyo(2026, 12, 1, 9, 0))
    run(mail_app, tokyo(2026, 12, 1, 9, 1))
    drain()
    assert len(smtp_sink.wait_for(4)) == 4
    [campaign_mail] = [m for m in smtp_sink.messages
                       if m.message["To"] == "sato@example.jp" and "キャンペーン" in str(m.message["Subject"])]

    page = browser.new_page(**PHONE)
    page.goto(server.url + _preferences_path(campaign_mail))
    page.get_by_label("キャンペーン").uncheck()
    assert page.get_by_label("お知らせ").is_checked()
    page.get_by_role("button", name="保存する").click()
    page.get_by_text("配信設定を保存しました").wait_for()
    assert not page.get_by_label("キャンペーン").is_checked() and page.get_by_label("お知らせ").is_checked()
    assert [(t.address, t.topic) for t in _rows(mail_app, TopicOptOut)] == [("sato@example.jp", "campaign")]

    # The dry run of the next campaign says who it leaves out, and why.
    _broadcasts(mail_app, 2, AT2)
    from automations.dryrun import dry_run
    from automations.queries import automation_by_key

    with mail_app.app_context(), db.get_db(mail_app).transaction() as session:
        result = dry_run(session, session.scalar(automation_by_key("campaign-2")), tokyo(2026, 12, 8, 8, 0),
                         "Asia/Tokyo")
    assert result.mailed == 1 and list(result.excluded) == ["このテーマの配信停止（配信設定）"]

    run(mail_app, tokyo(2026, 12, 8, 9, 0))
    run(mail_app, tokyo(2026, 12, 8, 9, 1))
    drain()
    assert _received(smtp_sink, 4) == [("sato@example.jp", "お知らせ 佐藤"),
                                       ("suzuki@example.jp", "お知らせ 鈴木"),
                                       ("suzuki@example.jp", "キャンペーン 鈴木")]


def test_re_subscribing_records_fresh_consent_and_mail_arrives_again(
        mail_app, server, browser, add_template, enqueue, drain, smtp_sink):
    add_template()
    person = upsert(mail_app, "Contact", LastName="田中", Email="tanaka@example.jp", HasOptedOutOfEmail=False)
    with mail_app.app_context(), db.get_db(mail_app).transaction() as session:
        record_consent(session, address="tanaka@example.jp", granted=True, source="form:materials_request")
    opt_in = {"consent_basis": "opt_in", "person": {"LastName": "田中"}}
    enqueue("first", to="tanaka@example.jp", person_id=person, context=opt_in)
    drain()
    [mail] = smtp_sink.wait_for(1)
    client = mail_app.test_client()
    assert client.post(_unsubscribe_path(mail), data={"List-Unsubscribe": "One-Click"}).status_code == 200
    upsert(mail_app, "Contact", Id=person, LastName="田中", Email="tanaka@example.jp",
           HasOptedOutOfEmail=True)  # the write-back reached Salesforce; sync brings it back
    enqueue("while-away", to="tanaka@example.jp", person_id=person, context=opt_in)
    drain()
    assert len(smtp_sink.messages) == 1

    page = browser.new_page(**PHONE)
    page.goto(server.url + _preferences_path(mail))
    assert "お知らせメールの配信を停止しています" in page.locator("main").inner_text()
    shown = page.locator("#consent-text").inner_text()
    assert "株式会社つなぎ商店 からのお知らせメール" in shown
    page.get_by_role("button", name="同意して配信を再開する").click()
    page.get_by_text("お知らせメールの配信を再開しました").wait_for()
    page.get_by_role("button", name="保存する").wait_for()  # the topics are offered again

    with db.get_db(mail_app).sessionmaker() as session:
        latest = session.scalars(select(MailConsent).order_by(MailConsent.id.desc())).first()
        assert (latest.granted, latest.source, latest.person_id) == (True, "preference_centre", person)
        assert latest.details["consent_text"] == shown and latest.occurred_at is not None
        assert session.scalars(select(Suppression)).all() == []
        out, back = session.scalars(select(WritebackItem).order_by(WritebackItem.id)).all()
    assert (out.record_id, out.fields) == (person, {"HasOptedOutOfEmail": True})
    # The opt-in reaches Salesforce after the opt-out still waiting in the queue, never before it.
    assert (back.record_id, back.fields, back.depends_on_id) == (person, {"HasOptedOutOfEmail": False}, out.id)

    upsert(mail_app, "Contact", Id=person, LastName="田中", Email="tanaka@example.jp", HasOptedOutOfEmail=False)
    enqueue("back", to="tanaka@example.jp", person_id=person, context=opt_in)
    drain()
    assert [m.message["To"] for m in smtp_sink.wait_for(2)] == ["tanaka@example.jp"] * 2
    assert [m.status for m in outbox(mail_app) if m.send_key == "back"] == ["sent"]

    # Without the signed token nobody can re-subscribe (or change anything) for that address.
    assert client.post("/p/forged-token", data={"action": "resubscribe"}).status_code == 404


def test_an_automation_naming_a_topic_that_does_not_exist_is_refused_at_its_line(app, sign_in):
    import re as _re

    template(app, "news")
    document = """key: year-end
name: 年末のご案内
trigger: {type: manual}
topic: campaing
actions:
  - {type: send_mail, template: news}
"""
    admin = sign_in("admin")
    response = admin.post("/admin/automations/new", data={"document": document})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "保存しました" not in page
    text = _re.sub(r"<[^>]+>", "", page)
    assert "4 行目: topic: 配信テーマ campaing は MAIL_TOPICS にありません" in text
    response = admin.post("/admin/automations/new", data={"document": document.replace("campaing", "campaign")})
    assert response.status_code in (200, 302, 303) and "MAIL_TOPICS" not in response.get_data(as_text=True)


def test_typing_many_customers_addresses_into_the_link_form_cannot_mail_them_all(
        mail_app, add_template, enqueue, drain, smtp_sink, monkeypatch):
    """An attacker posts every address they know to /u/request: the page answers the same each
    time, but one client makes at most LINK_REQUESTS_PER_CLIENT link mails an hour and everyone
    together at most LINK_REQUESTS_PER_HOUR."""
    import mail.preferences as preferences

    add_template()
    victims = [f"member{n}@example.jp" for n in range(9)]
    for n, address in enumerate(victims):
        enqueue(f"first-{n}", to=address)  # addresses we have mailed: "known"
    drain()
    sent_before = len(smtp_sink.wait_for(len(victims)))
    monkeypatch.setattr(preferences, "LINK_REQUESTS_PER_HOUR", 7)

    def ask(address, ip):
        client = mail_app.test_client()
        response = client.post("/u/request", data={"email": address}, environ_base={"REMOTE_ADDR": ip})
        assert response.status_code == 200 and "リンクをお送りしました" in response.get_data(as_text=True)

    for address in victims:  # one client
        ask(address, "203.0.113.7")
    for address in victims:  # a second client: only what is left of everyone's hour
        ask(address, "198.51.100.9")
    drain()
    links = smtp_sink.messages[sent_before:]
    assert len(links) == 7
    assert len({m.rcpt_tos[0] for m in links}) == 7  # never one address twice in the hour
