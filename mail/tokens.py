"""Signed, expiring tokens for public mail links: unsubscribe, preferences, open pixel, click redirect.

A token names the outbox row (and, for clicks, the target URL), signed with SECRET_KEY and a
per-purpose salt, so a token for one purpose is useless for another and the click target
can only be a URL we put in a mail ourselves (no open redirect).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from typing import Any

from itsdangerous import BadData, TimestampSigner

# Mail is read (and unsubscribed from) long after it is sent; a year and a bit covers that.
MAX_AGE_SECONDS = 400 * 86400
PURPOSES = ("unsubscribe", "open", "click", "preferences")


class BadToken(ValueError):
    """The token is forged, damaged, for another purpose, or expired."""


@functools.lru_cache(maxsize=16)
def _signer(secret: str, purpose: str) -> TimestampSigner:
    # One signer per purpose, built once: tokens are made for every mail at thousands per second,
    # so the serializer's per-call set-up and zlib attempt are avoided (payloads are tiny).
    return TimestampSigner(secret, salt=f"tsunagi.mail.{purpose}", digest_method=hashlib.sha256)


def make(secret: str, purpose: str, value: Any) -> str:
    """A token carrying `value` (JSON) for `purpose`: base64url(JSON).timestamp.signature."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    payload = base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).rstrip(b"=")
    return _signer(secret, purpose).sign(payload).decode("ascii")


def load(secret: str, purpose: str, token: str, max_age: int = MAX_AGE_SECONDS) -> Any:
    """The value inside a valid token; raises BadToken otherwise."""
    if purpose not in PURPOSES or not token or len(token) > 4000 or not token.isascii():
        raise BadToken("invalid token")
    try:
        payload = _signer(secret, purpose).unsign(token, max_age=max_age)
        return json.loads(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))
    except (BadData, ValueError):
        raise BadToken("invalid token") from None
