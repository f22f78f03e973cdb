"""Which fields are mirrored: every field describe reports, except base64 and compound ones.

The describe of every object is cached in `sync_objects.field_types` and refreshed once a day,
on `flask sync describe`, or on `sync run --full`: a custom field added in Salesforce appears in
the mirror after the next refresh with no code change or migration (fields live in JSON).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session

from db import utcnow
from sync.models import SyncObject

# base64 bodies cannot be queried in bulk; address/location are compounds of fields we get anyway.
EXCLUDED_TYPES = frozenset({"base64", "address", "location"})
# Parent fields other packages need (sync.keys uses Account.Name as a Contact's company).
PARENT_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {"Contact": (("AccountId", "Account.Name"),)}
DESCRIBE_MAX_AGE = timedelta(hours=24)
# Read first so a reader of the SOQL sees the cursor fields at once.
_LEADING = ("Id", "SystemModstamp", "IsDeleted")


def field_types(describe: dict[str, Any]) -> dict[str, str]:
    """Field name → type from one describe answer, leaving out base64 and compound fields."""
    return {f["name"]: f["type"] for f in describe.get("fields", []) if f.get("type") not in EXCLUDED_TYPES}


def select_list(object_name: str, types: dict[str, str]) -> list[str]:
    """The fields a query of `object_name` selects: cursor fields first, then the rest by name."""
    names = [n for n in _LEADING if n in types]
    names += sorted(n for n in types if n not in _LEADING)
    names += [parent for lookup, parent in PARENT_FIELDS.get(object_name, ()) if lookup in types]
    return names


def state(session: Session, object_name: str) -> SyncObject:
    """The sync state row of `object_name`, created empty on first use."""
    row = session.get(SyncObject, object_name)
    if row is None:
        row = SyncObject(object_name=object_name, field_types={}, last_changed=0, consecutive_failures=0)
        session.add(row)
        session.flush()
    return row


def needs_describe(row: SyncObject, full: bool = False) -> bool:
    """True when the cached describe is missing, older than a day, or a full refresh was asked."""
    return full or not row.field_types or row.described_at is None or utcnow() - row.described_at > DESCRIBE_MAX_AGE


def refresh(session: Session, gateway: Any, object_names: list[str]) -> dict[str, str]:
    """Describe `object_names` in composite calls (25 per call); returns errors by object name."""
    if not object_names:
        return {}
    subrequests = [{"method": "GET", "url": f"sobjects/{quote(name)}/describe/", "referenceId": f"d{i}"}
                   for i, name in enumerate(object_names)]
    errors: dict[str, str] = {}
    for name, answer in zip(object_names, gateway.composite(subrequests), strict=True):
        if answer.get("httpStatusCode") != 200:
            errors[name] = _message(answer)
            continue
        row = state(session, name)
        row.field_types = field_types(answer["body"])
        row.described_at = utcnow()
    return errors


def person_model_gaps(settings: Any, field_types: dict[str, dict[str, str]]) -> str | None:
    """The start-up check of PERSON_MODEL against describe: one line naming every field the
    person model uses that the org lacks, or None when it has them all.

    Only person objects this process mirrors and has described are checked.
    """
    missing: list[str] = []
    for obj in settings.person_model.objects:
        if field_types.get(obj.name):
            missing += [f"{obj.name}.{f}" for f in obj.fields_used() if f not in field_types[obj.name]]
    if not missing:
        return None
    return ("PERSON_MODEL names fields the Salesforce org lacks: " + ", ".join(missing)
            + " (create them in Salesforce, or set PERSON_MODEL to the fields the org has)")


def _message(answer: dict[str, Any]) -> str:
    body = answer.get("body")
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return f"{body[0].get('errorCode')}: {body[0].get('message')}"
    return f"HTTP {answer.get('httpStatusCode')}"
