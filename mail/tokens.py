"""Signed, expiring tokens for public mail links: unsubscribe, open pixel, click redirect.

A token names the outbox row (and, for clicks, the target URL), signed with SECRET_KEY and a
per-purpose salt, so a token for one purpose is useless for another and the click target
can only be a URL we put in a mail ourselves (no open redirect).
"""

from __future__ import annotations

import functools
from typing import Any

from itsdangerous import BadData, URLSafeTimedSerializer

# Mail is read (and unsubscribed from) long after it is sent; a year and a bit covers that.
MAX_AGE_SECONDS = 400 * 86400
PURPOSES = ("unsubscribe", "open", "click")


class BadToken(ValueError):
    """The token is forged, damaged, for another purpose, or expired."""


@functools.lru_cache(maxsize=16)
def _serializer(secret: str, purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=f"tsunagi.mail.{purpose}")


def make(secret: str, purpose: str, value: Any) -> str:
    """A token carrying `value` (JSON) for `purpose`."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    token = _serializer(secret, purpose).dumps(value)
    return token if isinstance(token, str) else token.decode()


def load(secret: str, purpose: str, token: str, max_age: int = MAX_AGE_SECONDS) -> Any:
    """The value inside a valid token; raises BadToken otherwise."""
    if purpose not in PURPOSES or not token or len(token) > 4000:
        raise BadToken("invalid token")
    try:
        return _serializer(secret, purpose).loads(token, max_age=max_age)
    except BadData:
        raise BadToken("invalid token") from None
