"""Field facts from the org's describe (type, length, required, picklist values) applied to forms.

The describe is cached by salesforce.describe (one cache for sync and forms, one max age).
Forms never call Salesforce on a request path: a background job (`forms.describe`) refreshes the
cache. It is queued when a definition is saved (admin page, YAML import, `forms load`, so also
on a fresh `make run`) and when a form is shown while an object it writes has no fresh describe
(at most once an hour per object). An admin can still refresh it by hand (admin page or
`flask --app app forms describe OBJECT`). Rendering only reads the cache. What a definition
states explicitly (a max_length, options, required: true) wins over describe.
"""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy.orm import Session

import db
from db import utcnow
from forms.schema import FormSpec
from salesforce import describe as describes
from salesforce import gateway_for
from salesforce.errors import ValidationError
from web import current_application
from work.queue import enqueue


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
    if not object_names:
        return False
    return enqueue(session, DESCRIBE_JOB, {"objects": sorted(object_names)}, dedupe_key=dedupe)


# (database, object, hour) already requested by this process: a form page shown many times
# while the describe is on its way costs no write after the first.
_requested: set[tuple[str, str, str]] = set()


def request_missing(session: Session, object_names: list[str]) -> bool:
    """Queue a describe for objects with no fresh describe (at most once per object and hour).

    Returns True when something was added to `session` (the caller commits).
    """
    hour = utcnow().strftime("%Y%m%d%H")
    database = str(session.get_bind().engine.url)
    missing = describes.stale(session, [n for n in object_names if (database, n, hour) not in _requested])
    for name in missing:
        request_describe(session, [name], dedupe=f"{DESCRIBE_JOB}:{name}:{hour}")
    _requested.update((database, n, hour) for n in missing)
    return bool(missing)


def refresh_describe(session: Session, gateway: Any, object_names: list[str]) -> list[str]:
    """Refresh the cached describe of the objects a form writes (ValidationError naming any that failed)."""
    errors = describes.refresh(session, gateway, object_names)
    if errors:
        raise ValidationError("; ".join(f"{name}: {error}" for name, error in errors.items()))
    return object_names


def describe_job(payload: dict[str, Any]) -> None:
    """Job forms.describe: fetch the describe of `payload["objects"]` through the gateway and cache it."""
    names = [str(n) for n in payload.get("objects", []) if n]
    gateway = gateway_for(current_application())
    with db.transaction() as session:
        refresh_describe(session, gateway, names)
