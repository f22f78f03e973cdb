"""Salesforce field values in one canonical shape, so values from REST, SOAP and our own writes compare.

REST answers `2026-11-20T10:00:00.000+0000`, Outbound Messages send `2026-11-20T10:00:00.000Z`
and writers may hand us `datetime` objects: all become the REST form in UTC. Relationship values
(`"Account": {"attributes": …, "Name": "X"}`) are flattened to dotted names (`Account.Name`).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$"
)


def parse_datetime(value: Any) -> datetime | None:
    """A Salesforce datetime (text or datetime) as an aware UTC datetime; None when it is not one."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        return None
    match = _DATETIME.match(value.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    parsed = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo=UTC)
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        offset = sign * (int(digits[:2]) * 60 + int(digits[2:]))
        parsed -= timedelta(minutes=offset)
    return parsed


def format_datetime(value: datetime) -> str:
    """An aware datetime in the REST API's own form: 2026-11-20T10:00:00.000+0000."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def canonical(value: Any) -> Any:
    """One JSON-ready shape per value: datetimes in REST form, dates ISO, Decimals as numbers."""
    if isinstance(value, str):
        if len(value) == 28 and value.endswith(".000+0000") and value[10:11] == "T":
            return value  # already the REST form (most values): skip parsing
        # Only text that looks like a full datetime is rewritten; dates and other text pass.
        if len(value) >= 19 and value[4:5] == "-" and value[10:11] == "T":
            parsed = parse_datetime(value)
            if parsed is not None:
                return format_datetime(parsed)
        return value
    if isinstance(value, datetime):
        return format_datetime(value if value.tzinfo else value.replace(tzinfo=UTC))
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


INTEGER_TYPES = frozenset({"int", "long"})
DECIMAL_TYPES = frozenset({"double", "currency", "percent"})


def rest_value(field_type: str | None, text: str | None) -> Any:
    """A field's value sent as text (Outbound Message SOAP, Bulk API 2.0 CSV) as REST's JSON value.

    By the describe's field type: booleans as booleans, numbers as numbers (integral text an int,
    anything else a float, as a JSON parser reads them), empty text as null (SOAP and CSV send
    empty text for an empty field; REST says null); dates, datetimes and the rest stay text.
    """
    if text is None:
        return None
    if field_type == "boolean":
        return text.strip().lower() == "true"
    if text == "":
        return None
    if field_type in INTEGER_TYPES or field_type in DECIMAL_TYPES:
        try:
            return int(text)
        except ValueError:
            return float(text)
    return text


def flatten(record: dict[str, Any]) -> dict[str, Any]:
    """Field values of one API record under their names; parent fields under dotted names.

    `attributes` is dropped. A null relationship (`"Account": null`) stays as a None value so
    that the mirror can clear the parent fields it held for it.
    """
    out: dict[str, Any] = {}
    for name, value in record.items():
        if name == "attributes":
            continue
        if isinstance(value, dict):
            for sub, sub_value in flatten(value).items():
                out[f"{name}.{sub}"] = sub_value
        else:
            out[name] = canonical(value)
    return out
