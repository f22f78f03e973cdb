"""Field facts from the org's describe (type, length, required, picklist values), cached locally.

Forms never call Salesforce on a request path: an admin refreshes the cache (admin page or
`flask --app app forms describe OBJECT`), and rendering reads the cache. What a definition
states explicitly (a max_length, options, required: true) wins over describe.
"""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy.orm import Session

from db import utcnow
from forms.models import DescribeCache
from forms.schema import FormSpec


def compact_describe(describe: dict[str, Any]) -> dict[str, Any]:
    """The parts of a Salesforce describe response forms use, keyed by field name."""
    fields: dict[str, Any] = {}
    for f in describe.get("fields", []):
        fields[f["name"]] = {
            "type": f.get("type"),
            "label": f.get("label") or f["name"],
            "length": f.get("length") or None,
            # Required for a person to type: not nillable, creatable, and no default from the org.
            "required": (not f.get("nillable", True)) and f.get("createable", True)
            and not f.get("defaultedOnCreate", False) and f.get("type") != "boolean",
            "picklist": [{"value": p["value"], "label": p.get("label") or p["value"]}
                         for p in f.get("picklistValues") or [] if p.get("active", True)],
            "external_id": bool(f.get("externalId")),
        }
    return fields


def store_describe(session: Session, object_name: str, describe: dict[str, Any]) -> DescribeCache:
    """Replace the cached describe of `object_name` (in the caller's transaction)."""
    row = session.get(DescribeCache, object_name)
    if row is None:
        row = DescribeCache(object_name=object_name)
        session.add(row)
    row.fields = compact_describe(describe)
    row.fetched_at = utcnow()
    return row


def refresh_describe(session: Session, gateway: Any, object_names: list[str]) -> list[str]:
    """Fetch describe for each object through the Salesforce gateway and cache it."""
    for name in object_names:
        store_describe(session, name, gateway.describe(name))
    return object_names


def cached_fields(session: Session, object_name: str) -> dict[str, Any]:
    """The cached field facts of `object_name` ({} until an admin refreshes describe)."""
    row = session.get(DescribeCache, object_name)
    return row.fields if row is not None else {}


def with_describe(spec: FormSpec, described: dict[str, Any]) -> FormSpec:
    """A copy of `spec` with lengths, required flags and picklist values filled from describe."""
    spec = copy.deepcopy(spec)
    for field in spec.fields:
        facts = described.get(field.name)
        if not facts or not field.from_describe:
            continue
        if field.max_length is None and facts.get("length") and facts.get("type") in (
                "string", "textarea", "email", "phone", "url"):
            field.max_length = int(facts["length"])
        if facts.get("required") and field.name not in spec.hidden:
            field.required = True
        if not field.options and facts.get("picklist"):
            field.options = [dict(o) for o in facts["picklist"]]
    return spec


def unknown_fields(spec: FormSpec, described: dict[str, Any]) -> list[str]:
    """Field names the definition uses that the cached describe does not know (a typo, or no FLS)."""
    if not described:
        return []
    names = [f.name for f in spec.fields] + list(spec.hidden)
    return [n for n in names if n not in described]
