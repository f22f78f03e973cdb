"""Bounce intake from Amazon SES notifications delivered by SNS over HTTPS: `parse(raw) -> reports`.

Authenticity: the SNS subscription URL must carry `?token=MAIL_BOUNCE_TOKEN` (SNS signature
verification would need the signing certificate fetched from AWS; the shared secret in an https
URL is the documented alternative here). SNS first posts a `SubscriptionConfirmation`: it is
logged with its SubscribeURL, which the operator opens (or confirms in the SNS console); tsunagi
makes no outbound request on a peer's word.

Mapping, per the SES notification contents reference
(https://docs.aws.amazon.com/ses/latest/dg/notification-contents.html): `Bounce` with
bounceType `Permanent` → hard per bounced recipient (status 5.x.x); `Transient` and
`Undetermined` → soft; `Complaint` and `Delivery` are ignored. `mail.commonHeaders.messageId`
is the Message-ID tsunagi wrote, which names the outbox row.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from mail.bounces import BounceReport

log = logging.getLogger(__name__)


class BadPayload(ValueError):
    """Not an SNS message carrying an SES notification."""


def _reports(notification: dict[str, Any]) -> list[BounceReport]:
    if notification.get("notificationType", notification.get("eventType")) != "Bounce":
        return []
    bounce = notification.get("bounce") or {}
    common = (notification.get("mail") or {}).get("commonHeaders") or {}
    message_id = str(common.get("messageId", "")).strip()
    permanent = bounce.get("bounceType") == "Permanent"
    reports = []
    for recipient in bounce.get("bouncedRecipients") or []:
        address = str(recipient.get("emailAddress", "")).strip().strip("<>").lower()
        if "@" not in address:
            continue
        status = str(recipient.get("status") or "")
        if permanent and not status.startswith("5"):
            status = "5.0.0"
        elif not permanent:
            status = status if status.startswith("4") else "4.0.0"
        reports.append(BounceReport(recipient=address, action="failed" if permanent else "delayed", status=status,
                                    diagnostic=" ".join(str(recipient.get("diagnosticCode", "")).split()),
                                    original_message_id=message_id))
    return reports


def parse(raw: bytes) -> list[BounceReport]:
    """The bounce reports of one SNS HTTP(S) delivery; raises BadPayload for anything else."""
    try:
        envelope = json.loads(raw)
        kind = envelope["Type"]
    except (UnicodeDecodeError, ValueError, TypeError, KeyError):
        raise BadPayload("not an SNS message") from None
    if kind == "SubscriptionConfirmation":
        log.warning("SNS subscription %s awaits confirmation: open %s", envelope.get("TopicArn"),
                    envelope.get("SubscribeURL"))
        return []
    if kind != "Notification":
        return []
    try:
        notification = json.loads(envelope["Message"])
    except (ValueError, TypeError, KeyError):
        raise BadPayload("the SNS message carries no SES notification") from None
    if not isinstance(notification, dict):
        raise BadPayload("the SNS message carries no SES notification")
    return _reports(notification)
