"""Bounce intake from SendGrid's Event Webhook: `parse(request) -> reports`, the shape of the DSN intake.

SendGrid posts a JSON array of events. Authenticity: with MAIL_SENDGRID_PUBLIC_KEY set (the
"Signed Event Webhook" verification key, base64 DER) the ECDSA P-256/SHA-256 signature over
timestamp + raw body (headers X-Twilio-Email-Event-Webhook-Signature / -Timestamp) must verify;
otherwise the URL must carry `?token=MAIL_BOUNCE_TOKEN`. Mapping, per SendGrid's Event Webhook
reference (https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event):

- `bounce` with `type` "bounce" → hard (action failed, status 5.x.x); `type` "blocked" → soft;
- `deferred` → soft (action delayed);
- everything else (processed, delivered, dropped, opens…) is ignored: `dropped` is SendGrid
  refusing to send to an address it already suppresses, which is not news about the mailbox.

`smtp-id` is the Message-ID of the mail tsunagi sent, which names the outbox row.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import time
from typing import Any

from mail.bounces import BounceReport

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
# A signed request older than this is refused (a replay of a captured one).
MAX_SKEW_SECONDS = 600


class Unauthorized(ValueError):
    """Neither a valid signature nor the shared token."""


class BadPayload(ValueError):
    """Not a JSON array of SendGrid events."""


def _verify_signature(public_key_b64: str, raw: bytes, signature_b64: str, timestamp: str) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    try:
        key = load_der_public_key(base64.b64decode(public_key_b64))
        signature = base64.b64decode(signature_b64, validate=True)
        if not isinstance(key, ec.EllipticCurvePublicKey) or abs(time.time() - int(timestamp)) > MAX_SKEW_SECONDS:
            return False
        key.verify(signature, timestamp.encode() + raw, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


def authenticate(settings: Any, raw: bytes, headers: Any, token: str) -> None:
    """Raise Unauthorized unless the request is SendGrid's (signature) or carries the shared token."""
    if settings.mail_sendgrid_public_key:
        if not _verify_signature(settings.mail_sendgrid_public_key, raw, headers.get(SIGNATURE_HEADER, ""),
                                 headers.get(TIMESTAMP_HEADER, "")):
            raise Unauthorized("bad or missing Event Webhook signature")
        return
    expected = settings.mail_bounce_token
    if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Unauthorized("bad or missing token")


def _report(event: dict[str, Any]) -> BounceReport | None:
    kind = str(event.get("event", ""))
    recipient = str(event.get("email", "")).strip().lower()
    if "@" not in recipient:
        return None
    message_id = str(event.get("smtp-id", "")).strip()
    reason = " ".join(str(event.get("reason") or event.get("response") or "").split())
    if kind == "bounce":
        hard = str(event.get("type", "bounce")) == "bounce"
        status = str(event.get("status") or ("5.0.0" if hard else "4.0.0"))
        if hard and not status.startswith("5"):
            status = "5.0.0"
        return BounceReport(recipient=recipient, action="failed" if hard else "delayed", status=status,
                            diagnostic=reason, original_message_id=message_id)
    if kind == "deferred":
        return BounceReport(recipient=recipient, action="delayed", status="4.0.0", diagnostic=reason,
                            original_message_id=message_id)
    return None


def parse(raw: bytes) -> list[BounceReport]:
    """The bounce reports in an Event Webhook body; raises BadPayload when it is not an event array."""
    try:
        events = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise BadPayload("not JSON") from None
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise BadPayload("not an array of events")
    return [r for r in map(_report, events) if r is not None]
