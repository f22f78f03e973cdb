"""SendGrid Event Webhook intake: the documented event shapes, signed or with the shared token."""

from __future__ import annotations

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

import db
from mail.models import BounceCount, Suppression

TOKEN = "bounce-secret"


def events(message_id: str) -> list[dict]:
    # Shapes of SendGrid's Event Webhook reference (bounce with status/type, blocked without status,
    # deferred, and delivery events that carry no bounce).
    return [
        {"email": "gone@example.jp", "timestamp": 1513299569, "smtp-id": message_id, "event": "bounce",
         "category": "cat facts", "sg_event_id": "6g4ZI7SA-xmRDv57GoPIPw==", "sg_message_id": "14c5d75ce93.dfd.64b469",
         "reason": "500 unknown recipient", "status": "5.0.0", "type": "bounce", "bounce_classification": "Invalid"},
        {"bounce_classification": "Unclassified", "email": "busy@example.jp", "event": "bounce",
         "reason": "unable to get mx info", "sg_event_id": "Ym91bmNlLTQt", "sg_message_id": "euo2iKxdSayPF4YE4",
         "smtp-id": "<other@example.jp>", "timestamp": 1740300320, "tls": 0, "type": "blocked"},
        {"email": "slow@example.jp", "timestamp": 1513299569, "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
         "event": "deferred", "sg_event_id": "t7LEShmowp86DTdUW8M-GQ==", "sg_message_id": "14c5d75ce93.dfd.64b469",
         "response": "400 try again later", "attempt": "5"},
        {"email": "fine@example.jp", "timestamp": 1513299569, "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
         "event": "delivered", "response": "250 OK", "sg_event_id": "rWVYmVk90MjZJ9iohOBa3w=="},
        {"email": "known@example.jp", "timestamp": 1513299569, "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
         "event": "dropped", "reason": "Bounced Address", "status": "5.0.0"},
    ]


@pytest.fixture
def sent_row(mail_app, smtp_sink, add_template, enqueue, drain, outbox_rows):
    add_template()
    enqueue("sg-1", to="gone@example.jp")
    drain()
    [row] = outbox_rows()
    return row


def _with(app, **changes):
    settings = app.config["TSUNAGI"]
    app.config["TSUNAGI"] = settings.__class__(**{**settings.__dict__, **changes})
    return app.test_client()


def test_bounce_events_with_the_shared_token(mail_app, sent_row, outbox_rows):
    client = _with(mail_app, mail_bounce_token=TOKEN)
    body = json.dumps(events(sent_row.message_id))
    assert client.post("/mail/bounces/sendgrid?token=wrong", data=body).status_code == 401
    assert client.post("/mail/bounces/sendgrid", data=body).status_code == 401
    response = client.post(f"/mail/bounces/sendgrid?token={TOKEN}", data=body,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 200 and response.get_json() == {"hard": 1, "soft": 2, "ignored": 0}
    assert outbox_rows()[0].status == "bounced"
    with db.get_db(mail_app).sessionmaker() as session:
        assert session.get(Suppression, "gone@example.jp").reason == "hard_bounce"
        assert session.get(BounceCount, "busy@example.jp").soft_count == 1
        assert session.get(BounceCount, "slow@example.jp").soft_count == 1
        assert session.get(Suppression, "known@example.jp") is None
    assert client.post(f"/mail/bounces/sendgrid?token={TOKEN}", data=b'{"event": "bounce"}').status_code == 422


def test_signed_event_webhook(mail_app, sent_row, outbox_rows):
    key = ec.generate_private_key(ec.SECP256R1())
    public = base64.b64encode(key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
    client = _with(mail_app, mail_bounce_token=TOKEN, mail_sendgrid_public_key=public)
    body = json.dumps(events(sent_row.message_id)).encode()
    stamp = str(int(time.time()))

    def headers(signature: bytes, timestamp: str = stamp) -> dict[str, str]:
        return {"X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
                "X-Twilio-Email-Event-Webhook-Timestamp": timestamp}

    good = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    # With a key configured the token alone is not enough; a changed body or an old timestamp fails.
    assert client.post(f"/mail/bounces/sendgrid?token={TOKEN}", data=body).status_code == 401
    assert client.post("/mail/bounces/sendgrid", data=body.replace(b"gone@", b"else@"),
                       headers=headers(good)).status_code == 401
    old = str(int(time.time()) - 3600)
    stale = key.sign(old.encode() + body, ec.ECDSA(hashes.SHA256()))
    assert client.post("/mail/bounces/sendgrid", data=body, headers=headers(stale, old)).status_code == 401
    assert outbox_rows()[0].status == "sent"
    response = client.post("/mail/bounces/sendgrid", data=body, headers=headers(good))
    assert response.status_code == 200 and response.get_json()["hard"] == 1
    assert outbox_rows()[0].status == "bounced"
