"""The bounce address (MAIL_RETURN_PATH): a per-mail VERP envelope sender, and reading it back.

Every mail goes out with the envelope sender (SMTP MAIL FROM, later the Return-Path) built from
the setting with a tag naming the outbox row: `bounces+<id>-<signature>@example.jp`, or the
setting's `{token}` replaced (`b-{token}@bounce.example.jp`). A DSN is sent to that address, so
a bounce maps to the exact mail even when the report carries no Message-ID of the original.

The tag is the mail id and a truncated HMAC-SHA256 under SECRET_KEY, lowercase hex only: mail
servers may fold the case of a local part, and a forged tag (someone mailing a made-up report
to the bounce mailbox) names no mail at all.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from email.message import Message
from email.utils import getaddresses
from typing import Any

PLACEHOLDER = "{token}"
# 64 bits: guessing a valid tag for a given mail id takes ~2^63 tries.
_SIGNATURE_HEX = 16
_TAG = re.compile(r"^([0-9]{1,18})-([0-9a-f]{16})$")  # 16 = _SIGNATURE_HEX
# Where an MTA records the address a DSN was delivered to, most specific first.
_DELIVERY_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To")


def validate(setting: str) -> str:
    """MAIL_RETURN_PATH as given, or ValueError with what is wrong (empty: not used)."""
    value = setting.strip()
    if not value:
        return ""
    template = value if PLACEHOLDER in value else value.replace("@", "+" + PLACEHOLDER + "@", 1)
    local, at, domain = template.rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() or c in '<>"(),;:' for c in value):
        raise ValueError("must be a plain mail address such as bounces@example.jp (no display name)")
    if template.count(PLACEHOLDER) != 1 or PLACEHOLDER not in local:
        raise ValueError("{token} may appear once, in the part before the @")
    if len(local) - len(PLACEHOLDER) + 19 + 1 + _SIGNATURE_HEX > 64:
        raise ValueError("the part before the @ is too long to carry a token (64 characters at most)")
    return value


@dataclass(frozen=True)
class ReturnPath:
    """The bounce address template and the key its tags are signed with."""

    prefix: str
    suffix: str
    secret: str

    @classmethod
    def from_settings(cls, settings: Any) -> ReturnPath | None:
        """None when MAIL_RETURN_PATH is empty (the MAIL_FROM address is the envelope sender)."""
        value = validate(getattr(settings, "mail_return_path", "") or "")
        if not value:
            return None
        template = value if PLACEHOLDER in value else value.replace("@", "+" + PLACEHOLDER + "@", 1)
        prefix, _, suffix = template.partition(PLACEHOLDER)
        return cls(prefix=prefix, suffix=suffix, secret=settings.secret_key)

    def _signature(self, mail_id: int) -> str:
        digest = hmac.new(self.secret.encode(), f"tsunagi.mail.return_path:{mail_id}".encode(), hashlib.sha256)
        return digest.hexdigest()[:_SIGNATURE_HEX]

    def address_for(self, mail_id: int) -> str:
        """The envelope sender of one outbox mail."""
        return f"{self.prefix}{mail_id}-{self._signature(mail_id)}{self.suffix}"

    def is_ours(self, address: str) -> bool:
        """Whether `address` has the shape of our bounce address (valid tag or not)."""
        address = address.strip().strip("<>").lower()
        return (len(address) > len(self.prefix) + len(self.suffix) and address.startswith(self.prefix.lower())
                and address.endswith(self.suffix.lower()))

    def mail_id(self, address: str) -> int | None:
        """The outbox id an address of ours names, or None (not ours, damaged or forged tag)."""
        if not self.is_ours(address):
            return None
        address = address.strip().strip("<>").lower()
        match = _TAG.match(address[len(self.prefix):len(address) - len(self.suffix)])
        if match is None:
            return None
        mail_id = int(match.group(1))
        if not hmac.compare_digest(match.group(2), self._signature(mail_id)):
            return None
        return mail_id

    def addressed_to(self, message: Message) -> str | None:
        """The first address of ours the report was delivered or addressed to, if any."""
        for header in _DELIVERY_HEADERS:
            for _, address in getaddresses([str(v) for v in message.get_all(header, [])]):
                if self.is_ours(address):
                    return address.lower()
        return None
