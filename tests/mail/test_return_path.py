"""The bounce address (MAIL_RETURN_PATH): per-mail signed envelope sender, and DSNs sent back to it."""

from __future__ import annotations

import pytest

import db
from config.settings import SettingsError, load_settings
from mail.models import BounceCount, Suppression
from tests.mail.test_bounces import TOKEN, _post, dsn

RETURN_PATH = "bounces@bounce.example.jp"


@pytest.fixture
def verp_app(mail_app):
    settings = mail_app.config["TSUNAGI"]
    mail_app.config["TSUNAGI"] = settings.__class__(
        **{**settings.__dict__, "mail_bounce_token": TOKEN, "mail_return_path": RETURN_PATH})
    return mail_app


def _dsn_to(address: str, recipient: str, status: str = "5.1.1", message_id: str = "<lost@relay.example>") -> bytes:
    # The report an MTA sends back to the envelope sender; the relay rewrote the Message-ID.
    return dsn(recipient, status, message_id=message_id).replace(b"To: news@example.jp", f"To: {address}".encode())


def test_envelope_sender_is_the_signed_bounce_address_and_its_dsn_bounces_that_mail(
        verp_app, smtp_sink, add_template, enqueue, drain, outbox_rows):
    add_template()
    enqueue("verp-1", to="gone@example.jp")
    enqueue("verp-2", to="stays@example.jp")
    drain()
    received = {m.rcpt_tos[0]: m for m in smtp_sink.wait_for(2)}
    first, second = outbox_rows()
    envelope = received["gone@example.jp"].mail_from
    assert envelope.startswith(f"bounces+{first.id}-") and envelope.endswith("@bounce.example.jp")
    assert received["stays@example.jp"].mail_from.startswith(f"bounces+{second.id}-")
    assert received["gone@example.jp"].message["From"].endswith("<news@example.jp>")  # From: unchanged

    # No Message-ID of ours in the report, and a Final-Recipient the forwarder made up: the
    # address the DSN was delivered to names the mail, and that mail's address is suppressed.
    response = _post(verp_app.test_client(), _dsn_to(envelope.upper(), "alias@forwarder.example"))
    assert response.status_code == 200 and response.get_json()["hard"] == 1
    rows = {r.to_address: r for r in outbox_rows()}
    assert rows["gone@example.jp"].status == "bounced" and rows["stays@example.jp"].status == "sent"
    with db.get_db(verp_app).sessionmaker() as session:
        assert session.get(Suppression, "gone@example.jp").reason == "hard_bounce"


def test_a_forged_bounce_address_marks_nobody_bounced(verp_app, smtp_sink, add_template, enqueue, drain,
                                                     outbox_rows):
    add_template()
    enqueue("verp-3", to="victim@example.jp")
    drain()
    [row] = outbox_rows()
    envelope = smtp_sink.wait_for(1)[0].mail_from
    forged = envelope.replace(envelope.split("-")[-1].split("@")[0], "0123456789abcdef")
    other_id = envelope.replace(f"+{row.id}-", f"+{row.id + 1}-")
    client = verp_app.test_client()
    for address in (forged, other_id, f"bounces+{row.id}@bounce.example.jp"):
        response = _post(client, _dsn_to(address, "victim@example.jp", message_id=row.message_id))
        assert response.status_code == 200 and response.get_json() == {"hard": 0, "soft": 0, "ignored": 1}
    assert outbox_rows()[0].status == "sent"
    with db.get_db(verp_app).sessionmaker() as session:
        assert session.get(Suppression, "victim@example.jp") is None
        assert session.get(BounceCount, "victim@example.jp") is None


def test_token_placeholder_form(smtp_sink, add_template, enqueue, drain, outbox_rows, mail_app):
    settings = mail_app.config["TSUNAGI"]
    mail_app.config["TSUNAGI"] = settings.__class__(**{**settings.__dict__,
                                                       "mail_return_path": "b-{token}@bounce.example.jp"})
    add_template()
    enqueue("verp-4")
    drain()
    [row] = outbox_rows()
    assert smtp_sink.wait_for(1)[0].mail_from.startswith(f"b-{row.id}-")


@pytest.mark.db_independent
@pytest.mark.parametrize("value", ["Bounces <bounces@example.jp>", "bounces", "a{token}b{token}@example.jp",
                                   "bounces@{token}.example.jp", "x" * 40 + "@example.jp"])
def test_bad_return_path_is_refused_at_start(value, tmp_path):
    with pytest.raises(SettingsError, match="MAIL_RETURN_PATH"):
        load_settings({"SECRET_KEY": "x", "MAIL_RETURN_PATH": value}, tmp_path)
