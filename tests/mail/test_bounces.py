"""DSN intake (RFC 3464): hard bounces suppress, soft bounces are counted."""

from __future__ import annotations

import pytest
from sqlalchemy import select

import db
from mail.bounces import NotADsn, parse_dsn
from mail.models import BounceCount, Suppression

TOKEN = "bounce-secret"


def dsn(recipient: str, status: str, action: str = "failed", message_id: str = "<orig@example.jp>") -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example.net\r\n"
        "To: news@example.jp\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        f"Diagnostic-Code: smtp; 550 {status} mailbox unavailable\r\n\r\n"
        "--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {message_id}\r\nSubject: news\r\n\r\n"
        "--b--\r\n"
    ).encode()


@pytest.mark.db_independent
def test_dsn_is_parsed_per_recipient():
    [report] = parse_dsn(dsn("Gone@Example.jp", "5.1.1"))
    assert report.recipient == "gone@example.jp" and report.hard
    assert report.original_message_id == "<orig@example.jp>"
    [soft] = parse_dsn(dsn("full@example.jp", "4.2.2", action="delayed"))
    assert soft.soft and not soft.hard
    with pytest.raises(NotADsn):
        parse_dsn(b"Subject: hello\r\n\r\njust a reply\r\n")


@pytest.fixture
def bounce_client(make_app):
    return make_app(mail_bounce_token=TOKEN, mail_soft_bounce_limit=2).test_client()


def _post(client, body, token=TOKEN):
    return client.post("/mail/bounces", data=body, headers={"Authorization": f"Bearer {token}",
                                                            "Content-Type": "message/rfc822"})


def test_hard_bounce_suppresses_the_address(bounce_client):
    response = _post(bounce_client, dsn("gone@example.jp", "5.1.1"))
    assert response.status_code == 200 and response.get_json()["hard"] == 1
    with db.get_db(bounce_client.application).sessionmaker() as session:
        assert session.get(Suppression, "gone@example.jp").reason == "hard_bounce"


def test_soft_bounces_are_counted_and_suppress_at_the_limit(bounce_client):
    _post(bounce_client, dsn("full@example.jp", "4.2.2", action="delayed"))
    with db.get_db(bounce_client.application).sessionmaker() as session:
        assert session.get(BounceCount, "full@example.jp").soft_count == 1
        assert session.scalars(select(Suppression)).all() == []
    _post(bounce_client, dsn("full@example.jp", "4.2.2", action="failed"))
    with db.get_db(bounce_client.application).sessionmaker() as session:
        assert session.get(Suppression, "full@example.jp").reason == "soft_bounces"


def test_bounce_endpoint_refuses_wrong_token_and_non_dsn(bounce_client, make_app):
    assert _post(bounce_client, dsn("x@example.jp", "5.1.1"), token="wrong").status_code == 401
    assert _post(bounce_client, b"Subject: hi\r\n\r\nhello\r\n").status_code == 422
    disabled = make_app().test_client()  # no MAIL_BOUNCE_TOKEN: the endpoint accepts nothing
    assert _post(disabled, dsn("x@example.jp", "5.1.1"), token="").status_code == 401


def test_bounce_for_a_sent_mail_marks_it_bounced(mail_app, smtp_sink, add_template, enqueue, drain, outbox_rows):
    add_template()
    enqueue("dsn", to="gone@example.jp")
    drain()
    [row] = outbox_rows()
    mail_app.config["TSUNAGI"] = mail_app.config["TSUNAGI"].__class__(
        **{**mail_app.config["TSUNAGI"].__dict__, "mail_bounce_token": TOKEN})
    assert _post(mail_app.test_client(), dsn("gone@example.jp", "5.1.1", message_id=row.message_id)).status_code == 200
    assert outbox_rows()[0].status == "bounced"
