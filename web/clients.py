"""Who is asking, as far as public endpoints need to know: a key per client for rate limits.

    client_key(secret, address) -> str
    request_client_key() -> str      (the current request's, with the app's SECRET_KEY)

The key is an HMAC of the client's IP address (request.remote_addr, which TRUSTED_PROXIES makes
the real client's): enough to count one client's requests, useless to anyone who reads the rows.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app, request


def client_key(secret: str, address: str | None) -> str:
    """An HMAC of an IP address: enough to rate-limit, useless to anyone who reads it."""
    return hmac.new(secret.encode(), (address or "").encode(), hashlib.sha256).hexdigest()[:32]


def request_client_key() -> str:
    """The key of the client of the current request."""
    return client_key(current_app.config["SECRET_KEY"], request.remote_addr)
