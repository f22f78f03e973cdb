"""Building the bytes of one mail: RFC 5322 headers, RFC 2047 encoded words, multipart/alternative.

Written by hand rather than through `email.message` because it runs once per mail at thousands
per second; tests parse the result with the stdlib `email` package (policy=SMTP) to prove it.
No header value can carry a CR or LF: every value goes through `one_line` first, so a merge
field or a setting cannot inject a header.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from email.utils import formatdate, parseaddr

# RFC 2047: an encoded word is at most 75 characters; 39 bytes of UTF-8 become 52 base64 characters,
# a 64-character word, so even "Subject: " plus the first word stays within a 78-character line.
_WORD_BYTES = 39


_CONTROLS = {code: " " for code in [*range(32), 0x7F, 0x85, 0x2028, 0x2029]}


def one_line(value: str) -> str:
    """The text with every CR, LF, tab and control character turned into a space, runs collapsed."""
    return " ".join(value.translate(_CONTROLS).split())


def _encoded_words(text: str) -> str:
    words: list[str] = []
    chunk = bytearray()
    for ch in text:
        encoded = ch.encode("utf-8")
        if len(chunk) + len(encoded) > _WORD_BYTES:  # never split one character across words
            words.append("=?utf-8?b?" + base64.b64encode(bytes(chunk)).decode("ascii") + "?=")
            chunk = bytearray()
        chunk += encoded
    if chunk:
        words.append("=?utf-8?b?" + base64.b64encode(bytes(chunk)).decode("ascii") + "?=")
    return "\r\n ".join(words)


def encode_text(value: str) -> str:
    """An unstructured header value (e.g. Subject): ASCII as is when short, else RFC 2047 words."""
    value = one_line(value)
    if value.isascii() and len(value) <= 76 and "=?" not in value:
        return value
    return _encoded_words(value)


def format_address(name: str, address: str) -> str:
    """`name <address>` with the display name quoted or RFC 2047-encoded as needed."""
    address = one_line(address).replace(" ", "")
    name = one_line(name)
    if not name:
        return address
    if name.isascii() and "=?" not in name:
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}" <{address}>'
    return f"{_encoded_words(name)} <{address}>"


@dataclass(frozen=True)
class Sender:
    """Who mail comes from: the From header (already encoded) and the envelope sender."""

    from_header: str
    envelope_from: str
    domain: str

    @classmethod
    def parse(cls, mail_from: str) -> Sender:
        """From a setting like `つなぎ商店 <no-reply@example.jp>`."""
        name, address = parseaddr(one_line(mail_from))
        if "@" not in address:
            raise ValueError(f"MAIL_FROM {mail_from!r} has no address")
        return cls(from_header=format_address(name, address), envelope_from=address,
                   domain=address.rpartition("@")[2])


def _body(text: str) -> str:
    data = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n").encode("utf-8")
    return base64.encodebytes(data).decode("ascii").replace("\n", "\r\n")


def build_message(
    *,
    sender: Sender,
    to: str,
    subject: str,
    html: str,
    text: str,
    message_id: str,
    list_unsubscribe: str | None = None,
    headers: dict[str, str] | None = None,
    date: float | None = None,
) -> bytes:
    """The complete message: text and HTML alternatives, both UTF-8 in base64."""
    boundary = "=_tsunagi_" + hashlib.sha1(message_id.encode(), usedforsecurity=False).hexdigest()[:24]
    lines = [
        f"From: {sender.from_header}",
        f"To: {one_line(to).replace(' ', '')}",
        f"Subject: {encode_text(subject)}",
        f"Date: {formatdate(date, localtime=False)}",
        f"Message-ID: {one_line(message_id).replace(' ', '')}",
        "MIME-Version: 1.0",
    ]
    if list_unsubscribe:
        # RFC 8058 one-click: Gmail and Yahoo require both headers from bulk senders.
        lines.append(f"List-Unsubscribe: <{one_line(list_unsubscribe).replace(' ', '')}>")
        lines.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
    for name, value in (headers or {}).items():
        lines.append(f"{one_line(name).replace(' ', '-').replace(':', '')}: {encode_text(value)}")
    lines += [
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
        "",
        f"--{boundary}",
        'Content-Type: text/plain; charset="utf-8"',
        "Content-Transfer-Encoding: base64",
        "",
        _body(text),
        f"--{boundary}",
        'Content-Type: text/html; charset="utf-8"',
        "Content-Transfer-Encoding: base64",
        "",
        _body(html),
        f"--{boundary}--",
        "",
    ]
    return "\r\n".join(lines).encode("ascii")
