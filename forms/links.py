"""Signed, expiring links to public forms that prefill a known person (never raw record ids).

A link carries `?t=<token>`; the token names the form and the person and is signed with
SECRET_KEY (itsdangerous, salted for forms). It stops working after its own `max_age_days`, and
never later than FORMS_LINK_MAX_AGE_DAYS, and only opens the form it was made for.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

import db
from config import settings_of

_SALT = "tsunagi.forms.link"
_DAY = 86400


class LinkError(Exception):
    """A prefill link that is forged, expired, or made for another form."""


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def make_token(form_key: str, person_id: str, max_age_days: int | None = None) -> str:
    """A signed token naming the form and the person (call inside an app context)."""
    settings = settings_of()
    days = min(max_age_days or settings.forms_link_max_age_days, settings.forms_link_max_age_days)
    return _serializer().dumps({"f": form_key, "p": person_id, "d": days})


def signed_form_url(form_key: str, person_id: str, max_age_days: int | None = None) -> str:
    """The absolute URL of public form `form_key` prefilled for `person_id`, for a mail.

    Automations put this in mails (e.g. the revisit booking after a 不在 visit).
    """
    from urllib.parse import quote

    base = settings_of().public_base_url.rstrip("/")
    return f"{base}/f/{quote(form_key)}?t={make_token(form_key, person_id, max_age_days)}"


def read_token(token: str, form_key: str) -> str:
    """The person id in a valid token for `form_key`; raise LinkError otherwise."""
    settings = settings_of()
    serializer = _serializer()
    try:
        data: Any = serializer.loads(token, max_age=settings.forms_link_max_age_days * _DAY)
        # Check the link's own (shorter) lifetime against the signing time.
        _, issued = serializer.loads(token, return_timestamp=True)
    except SignatureExpired:
        raise LinkError("expired") from None
    except BadSignature:
        raise LinkError("invalid") from None
    if not isinstance(data, dict) or data.get("f") != form_key or not isinstance(data.get("p"), str):
        raise LinkError("invalid")
    if (db.utcnow() - issued).total_seconds() > int(data.get("d") or 0) * _DAY:
        raise LinkError("expired")
    return data["p"]
