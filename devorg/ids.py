"""Salesforce record ids: 15-character case-sensitive ids and their 18-character case-safe form.

An id is a 3-character key prefix naming the object (00Q Lead, 003 Contact…), then 12 base-62
characters. The 18-character form appends three checksum characters, one per 5-character chunk,
encoding which characters of the chunk are upper-case, so ids survive case-insensitive systems.
"""

from __future__ import annotations

import re
import string

_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_SUFFIX = string.ascii_uppercase + "012345"
_ID_RE = re.compile(r"^[a-zA-Z0-9]{15}(?:[A-Z0-5]{3})?$")

# Key prefixes the dev org uses beyond the sObjects it serves (org, notifications, actions).
ORG_PREFIX = "00D"
NOTIFICATION_PREFIX = "04l"
ACTION_PREFIX = "04k"
CURSOR_PREFIX = "01g"


def checksum(id15: str) -> str:
    """The three case-safe suffix characters of a 15-character id."""
    out = []
    for chunk in range(3):
        bits = 0
        for position, char in enumerate(id15[chunk * 5:chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        out.append(_SUFFIX[bits])
    return "".join(out)


def to18(record_id: str) -> str:
    """The 18-character form of an id given in either form."""
    if len(record_id) == 18:
        return record_id
    return record_id + checksum(record_id)


def is_valid(record_id: str) -> bool:
    """True for a well-formed 15- or 18-character id whose checksum (if any) matches."""
    if not isinstance(record_id, str) or not _ID_RE.match(record_id):
        return False
    return len(record_id) == 15 or checksum(record_id[:15]) == record_id[15:]


def normalize(record_id: str) -> str | None:
    """The 18-character id for a 15- or 18-character one, or None when it is malformed.

    An 18-character id whose suffix has the wrong letter case is accepted as Salesforce does
    (the suffix is what makes ids case-insensitive), and re-rendered from its 15-character body.
    """
    if not isinstance(record_id, str) or len(record_id) not in (15, 18):
        return None
    if len(record_id) == 18:
        if not re.fullmatch(r"[a-zA-Z0-9]{15}[A-Za-z0-5]{3}", record_id):
            return None
        body = record_id[:15]
        if checksum(body) != record_id[15:].upper():
            return None
        return body + checksum(body)
    if not re.fullmatch(r"[a-zA-Z0-9]{15}", record_id):
        return None
    return record_id + checksum(record_id)


def make_id(prefix: str, number: int, pod: str = "5g0") -> str:
    """The 18-character id number `number` of the object with key prefix `prefix`.

    Sequential numbers keep ids in creation order when sorted, as Salesforce's usually are.
    """
    digits = []
    for _ in range(9):
        number, rest = divmod(number, 62)
        digits.append(_BASE62[rest])
    if number:
        raise ValueError("id space exhausted")
    body = prefix + pod + "".join(reversed(digits))
    return body + checksum(body)
