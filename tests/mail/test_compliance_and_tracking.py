"""Unsubscribe (page and RFC 8058 one-click), tracking links, Task logging."""

from __future__ import annotations

import re
from urllib.parse import urlparse

import pytest
from sqlalchemy import select

import db
from activity.models import Activity
from mail.models import MailConsent, Suppression
from writeback.models import WritebackItem

CONTACT_ID = "003000000000001AAA"


@pytest.fixture
def send_one(smtp_sink, add_template, enqueue, drain):
    """`send_one(key, **mail)`: the template, one mail enqueued and sent; returns it as the sink got it."""
    def send(key: str, **fields):
        add_template()
        enqueue(key, **fields)
        drain()
        [mail] = smtp_sink.wait_for(1)
        return mail

    return send


def _path(url: str) -> str:
    return urlparse(url).path


def _activities(app, kind):
    with db.get_db(app).sessionmaker() as session:
        return list(session.scalars(select(Activity).where(Activity.kind == kind)))


def test_one_click_unsubscribe_suppresses_the_next_marketing_mail_and_opts_out_in_salesforce(
        mail_app, send_one, smtp_sink, enqueue, drain, outbox_rows):
    mail = send_one("first", person_id=CONTACT_ID)
    url = mail.message["List-Unsubscribe"][1:-1]
    client = mail_app.test_client()
    response = client.post(_path(url), data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert "配信を停止しました" in response.get_data(as_text=True)
    assert client.post(_path(url), data={"List-Unsubscribe": "One-Click"}).status_code == 200  # twice is harmless
    enqueue("second", person_id=CONTACT_ID)
    drain()
    assert outbox_rows()[1].status == "skipped" and outbox_rows()[1].skip_reason == "unsubscribe"
    assert len(smtp_sink.messages) == 1
    with db.get_db(mail_app).sessionmaker() as session:
        [item] = session.scalars(select(WritebackItem)).all()
        assert (item.object_name, item.operation, item.record_id) == ("Contact", "update", CONTACT_ID)
        assert item.fields == {"HasOptedOutOfEmail": True}
        [consent] = session.scalars(select(MailConsent)).all()
        assert consent.granted is False and consent.source == "one_click"
        assert session.get(Suppression, "taro@example.jp").reason == "unsubscribe"
    assert len(_activities(mail_app, "unsubscribe")) == 1


def test_one_click_post_works_with_csrf_protection_on(make_app, send_one, smtp_sink, mail_app):
    mail = send_one("csrf")
    protected = make_app(smtp_url=smtp_sink.url, config={"WTF_CSRF_ENABLED": True})
    path = _path(mail.message["List-Unsubscribe"][1:-1])
    assert protected.test_client().post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200


def test_unsubscribe_page_asks_before_unsubscribing(mail_app, send_one):
    mail = send_one("page")
    path = _path(mail.message["List-Unsubscribe"][1:-1])
    page = mail_app.test_client().get(path)
    assert page.status_code == 200 and "配信を停止する" in page.get_data(as_text=True)
    with db.get_db(mail_app).sessionmaker() as session:
        assert session.scalars(select(Suppression)).all() == []


def test_forged_or_tampered_tokens_are_refused(mail_app, send_one):
    mail = send_one("forge")
    path = _path(mail.message["List-Unsubscribe"][1:-1])
    client = mail_app.test_client()
    assert client.post(path[:-2] + "xx", data={"List-Unsubscribe": "One-Click"}).status_code == 404
    assert client.get("/m/o/not-a-token.gif").status_code == 404
    assert client.get("/m/c/" + path.rsplit("/", 1)[1]).status_code == 404  # an unsubscribe token is no click token
    with db.get_db(mail_app).sessionmaker() as session:
        assert session.scalars(select(Suppression)).all() == []


def test_click_redirects_only_to_the_signed_target_and_open_pixel_is_recorded(mail_app, send_one):
    mail = send_one("track")
    html = mail.message.get_body(("html",)).get_content()
    click_url = re.search(r'href="(https://mail\.example\.jp/m/c/[^"]+)"', html).group(1)
    pixel_url = re.search(r'src="(https://mail\.example\.jp/m/o/[^"]+)"', html).group(1)
    client = mail_app.test_client()
    response = client.get(_path(click_url) + "?next=https://evil.example.com")
    assert response.status_code == 302
    assert response.headers["Location"] == "https://shop.example.jp/sale?a=1&b=2"
    pixel = client.get(_path(pixel_url))
    assert pixel.status_code == 200 and pixel.mimetype == "image/gif"
    [clicked] = _activities(mail_app, "mail_click")
    assert clicked.details["url"] == "https://shop.example.jp/sale?a=1&b=2"
    assert len(_activities(mail_app, "mail_open")) == 1


def test_a_click_to_a_tracked_site_carries_a_signed_person_token_and_no_other_site_gets_one(mail_app, send_one):
    from dataclasses import replace
    from urllib.parse import parse_qs

    from scoring.tracking import person_from_token

    mail = send_one("track", person_id=CONTACT_ID)
    click_url = re.search(r'href="(https://mail\.example\.jp/m/c/[^"]+)"',
                          mail.message.get_body(("html",)).get_content()).group(1)
    client = mail_app.test_client()
    settings = mail_app.config["TSUNAGI"]
    mail_app.config["TSUNAGI"] = replace(settings, tracking_link_domains=("example.jp",))
    target = urlparse(client.get(_path(click_url)).headers["Location"])
    query = parse_qs(target.query)
    assert (target.hostname, query["a"], query["b"]) == ("shop.example.jp", ["1"], ["2"])
    assert person_from_token(settings.secret_key, query["tsn"][0]) == CONTACT_ID
    mail_app.config["TSUNAGI"] = replace(settings, tracking_link_domains=("coop.example.com",))
    assert client.get(_path(click_url)).headers["Location"] == "https://shop.example.jp/sale?a=1&b=2"


def test_sent_mail_is_logged_as_activity_and_completed_task(mail_app, smtp_sink, add_template, enqueue, drain):
    from mail.jobs import log_tasks

    add_template()
    enqueue("logged", person_id=CONTACT_ID)
    enqueue("anonymous", to="hanako@example.jp")
    drain()
    with mail_app.app_context():
        log_tasks({})
        log_tasks({})  # nothing is logged twice
    with db.get_db(mail_app).sessionmaker() as session:
        [task] = session.scalars(select(WritebackItem)).all()
    assert task.object_name == "Task" and task.operation == "create"
    assert task.fields["WhoId"] == CONTACT_ID and task.fields["Status"] == "Completed"
    assert task.fields["Subject"] == "メール: 山田 様へのお知らせ"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", task.fields["ActivityDate"])
    assert len(_activities(mail_app, "mail_sent")) == 2
