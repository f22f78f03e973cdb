"""Field facts from the org's describe (type, length, required, picklist values), cached locally.

Forms never call Salesforce on a request path: a background job (`forms.describe`) fills the
cache. It is queued when a definition is saved (admin page, YAML import, `forms load`, so also
on a fresh `make run`) and when a form is shown while an object it writes has no cached describe
yet (at most once an hour per object). An admin can still refresh it by hand (admin page or
`flask --app app forms describe OBJECT`). Rendering only reads the cache. What a definition
states explicitly (a max_length, options, required: true) wins over describe.
"""

from __future__ import annotations

import copy
from typing import Any

from flask import current_app
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


DESCRIBE_JOB = "forms.describe"


def objects_of(doc: dict[str, Any]) -> list[str]:
    """The Salesforce objects a definition document writes: its object, and Task if it creates Tasks."""
    tasks = any(a.get("type") == "create_task" for a in doc.get("actions", []) or [])
    return sorted({str(doc.get("object") or ""), *(["Task"] if tasks else [])} - {""})


def request_describe(session: Session, object_names: list[str], dedupe: str | None = None) -> bool:
    """Queue a background refresh of these objects' describe (in the caller's transaction).

    `dedupe` makes the request once-only for that key (e.g. one per object and hour).
    """
    from work.queue import enqueue

    if not object_names:
        return False
    return enqueue(session, DESCRIBE_JOB, {"objects": sorted(object_names)}, dedupe_key=dedupe)


# (database, object, hour) already requested by this process: a form page shown many times
# while the describe is on its way costs no write after the first.
_requested: set[tuple[str, str, str]] = set()


def request_missing(session: Session, object_names: list[str]) -> bool:
    """Queue a describe for objects with nothing cached yet (at most once per object and hour).

    Returns True when something was added to `session` (the caller commits).
    """
    hour = utcnow().strftime("%Y%m%d%H")
    database = str(session.get_bind().engine.url)
    missing = [n for n in object_names if (database, n, hour) not in _requested
               and session.get(DescribeCache, n) is None]
    for name in missing:
        request_describe(session, [name], dedupe=f"{DESCRIBE_JOB}:{name}:{hour}")
    _requested.update((database, n, hour) for n in missing)
    return bool(missing)


def describe_job(payload: dict[str, Any]) -> None:
    """Job forms.describe: fetch the describe of `payload["objects"]` through the gateway and cache it."""
    import db
    from salesforce import gateway_for

    names = [str(n) for n in payload.get("objects", []) if n]
    gateway = gateway_for(current_app._get_current_object())  # type: ignore[attr-defined]
    with db.transaction() as session:
        refresh_describe(session, gateway, names)
