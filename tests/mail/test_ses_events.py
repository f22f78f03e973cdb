"""Amazon SES bounce notifications delivered by SNS over HTTPS (shared token in the URL)."""

from __future__ import annotations

import json
import logging

import pytest

import db
from mail.models import BounceCount, Suppression

TOKEN = "bounce-secret"
SES_ID = "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000"


def sns(message: dict | None, kind: str = "Notification") -> bytes:
    # The SNS HTTP(S) envelope; Message is the SES notification as a JSON string.
    envelope = {"Type": kind, "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
                "TopicArn": "arn:aws:sns:us-west-2:123456789012:MyTopic", "Timestamp": "2016-01-27T14:59:38.237Z",
                "SignatureVersion": "1", "Signature": "EXAMPLE", "SigningCertURL": "https://sns.us-west-2.amazonaws.com/x.pem"}
    if message is not None:
        envelope["Message"] = json.dumps(message)
    if kind == "SubscriptionConfirmation":
        envelope["SubscribeURL"] = "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&Token=abc"
    return json.dumps(envelope).encode()


def bounce(message_id: str, bounce_type: str, recipients: list[dict]) -> dict:
    # Shape of the SES notification-contents reference's bounce example.
    return {
        "notificationType": "Bounce",
        "bounce": {"bounceType": bounce_type, "bounceSubType": "General", "bouncedRecipients": recipients,
                   "timestamp": "2016-01-27T14:59:38.237Z", "feedbackId": SES_ID,
                   "reportingMTA": "dns; a8-70.smtp-out.amazonses.com"},
        "mail": {"timestamp": "2016-01-27T14:59:38.237Z", "messageId": SES_ID,
                 "source": "news@example.jp", "destination": [r["emailAddress"] for r in recipients],
                 "headersTruncated": False,
                 "commonHeaders": {"from": ["news@example.jp"], "to": [r["emailAddress"] for r in recipients],
                                   "messageId": message_id, "subject": "お知らせ"}},
    }


@pytest.fixture
def client(mail_app, smtp_sink, add_template, enqueue, drain):
    add_template()
    enqueue("ses-1", to="gone@example.jp")
    drain()
    settings = mail_app.config["TSUNAGI"]
    mail_app.config["TSUNAGI"] = settings.__class__(**{**settings.__dict__, "mail_bounce_token": TOKEN})
    return mail_app.test_client()


def test_ses_bounces_via_sns(mail_app, client, outbox_rows, caplog):
    [row] = outbox_rows()
    hard = sns(bounce(row.message_id, "Permanent", [
        {"emailAddress": "gone@example.jp", "action": "failed", "status": "5.1.1",
         "diagnosticCode": "smtp; 550 5.1.1 user unknown"}]))
    assert client.post("/mail/bounces/ses?token=wrong", data=hard).status_code == 401
    assert client.post("/mail/bounces/ses", data=hard).status_code == 401
    assert outbox_rows()[0].status == "sent"
    response = client.post(f"/mail/bounces/ses?token={TOKEN}", data=hard)
    assert response.status_code == 200 and response.get_json() == {"hard": 1, "soft": 0, "ignored": 0}
    assert outbox_rows()[0].status == "bounced"
    soft = sns(bounce("<x@example.jp>", "Transient", [{"emailAddress": "full@example.jp"}]))
    assert client.post(f"/mail/bounces/ses?token={TOKEN}", data=soft).get_json()["soft"] == 1
    complaint = sns({"notificationType": "Complaint", "complaint": {"complainedRecipients": []}, "mail": {}})
    assert client.post(f"/mail/bounces/ses?token={TOKEN}", data=complaint).get_json()["hard"] == 0
    with db.get_db(mail_app).sessionmaker() as session:
        assert session.get(Suppression, "gone@example.jp").reason == "hard_bounce"
        assert session.get(BounceCount, "full@example.jp").soft_count == 1
        assert session.get(Suppression, "full@example.jp") is None
    with caplog.at_level(logging.WARNING, logger="mail.ses_events"):
        assert client.post(f"/mail/bounces/ses?token={TOKEN}",
                           data=sns(None, "SubscriptionConfirmation")).status_code == 200
    assert "ConfirmSubscription" in caplog.text
    assert client.post(f"/mail/bounces/ses?token={TOKEN}", data=b"[1, 2]").status_code == 422
