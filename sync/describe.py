"""Which fields are mirrored: every field the org's describe reports, except base64 and compound ones.

The describe itself is salesforce.describe's (one cache, one max age): the sync cycle refreshes
the stale describes of the objects it mirrors before it reads them, `flask sync describe` and
`sync run --full` refresh them all. A custom field added in Salesforce appears in the mirror
after the next refresh with no code change or migration (fields live in JSON).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from salesforce import describe as describes
from sync.models import SyncObject

# base64 bodies cannot be queried in bulk; address/location are compounds of fields we get anyway.
EXCLUDED_TYPES = frozenset({"base64", "address", "location"})
# Parent fields other packages need (sync.keys uses Account.Name as a Contact's company).
PARENT_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {"Contact": (("AccountId", "Account.Name"),)}
# Read first so a reader of the SOQL sees the cursor fields at once.
_LEADING = ("Id", "SystemModstamp", "IsDeleted")


def mirrored_types(facts: dict[str, Any]) -> dict[str, str]:
    """Field name → type of the fields mirrored, from an object's cached describe facts."""
    return {name: f.get("type") for name, f in facts.items() if f.get("type") not in EXCLUDED_TYPES}


def field_types(session: Session, object_names: Iterable[str]) -> dict[str, dict[str, str]]:
    """Field name → type of the fields mirrored, per object ({} for an object never described)."""
    names = list(object_names)
    cached = describes.described(session, names)
    return {name: mirrored_types(cached.get(name, {})) for name in names}


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
        row = SyncObject(object_name=object_name, last_changed=0, consecutive_failures=0)
        session.add(row)
        session.flush()
    return row


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
