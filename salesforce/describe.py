"""The org's describe of each object, cached in one table: the one owner of field descriptions.

Every package that needs to know an object's fields reads them here: sync builds its SELECT list
from the field types (sync.describe), forms take labels, lengths, required flags and picklist
values (forms.describe), automations check the names a definition uses (automations.checks).

One freshness rule: a describe older than DESCRIBE_MAX_AGE, or marked stale (a query named a
field the org no longer has), is stale, and whoever is about to use it in the background
refreshes it through `refresh` — the sync cycle for the objects it mirrors (before it reads), the
`forms.describe` job for the objects a form writes, `flask sync describe`, `flask forms describe`
and the forms admin page. A custom field added in Salesforce therefore appears after the next
refresh, with no code change or migration. Pages never call Salesforce: they only read (`fields_of`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from db import insert_for, utcnow
from salesforce.batch import subresponse_message
from salesforce.errors import ValidationError
from salesforce.models import ObjectDescribe

DESCRIBE_MAX_AGE = timedelta(hours=24)


def compact(describe: dict[str, Any]) -> dict[str, Any]:
    """The facts tsunagi uses from one describe answer, keyed by field name."""
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
            # Whether a SOQL WHERE may name it (long text areas, for one, may not).
            "filterable": bool(f.get("filterable", True)),
        }
    return fields


def store(session: Session, object_name: str, describe: dict[str, Any]) -> None:
    """Replace the cached describe of `object_name` with one describe answer (caller's transaction).

    An upsert: the sync cycle and a forms.describe job may describe a new object at the same time.
    """
    stmt = insert_for(session, ObjectDescribe).values(object_name=object_name, fields=compact(describe),
                                                      described_at=utcnow())
    session.execute(stmt.on_conflict_do_update(index_elements=["object_name"], set_={
        "fields": stmt.excluded.fields, "described_at": stmt.excluded.described_at}))
    loaded = session.identity_map.get(identity_key(ObjectDescribe, object_name))
    if loaded is not None:
        session.expire(loaded)


def refresh(session: Session, gateway: Any, object_names: Iterable[str]) -> dict[str, str]:
    """Describe `object_names` in composite calls (25 per call) and cache them; errors by object name.

    A failure of the whole call (sign-in, limit) raises from salesforce.errors.
    """
    names = list(dict.fromkeys(object_names))
    if not names:
        return {}
    subrequests = [{"method": "GET", "url": f"sobjects/{quote(name)}/describe/", "referenceId": f"d{i}"}
                   for i, name in enumerate(names)]
    errors: dict[str, str] = {}
    for name, answer in zip(names, gateway.composite(subrequests), strict=True):
        if answer.get("httpStatusCode") != 200:
            errors[name] = subresponse_message(answer)
            continue
        store(session, name, answer["body"])
    return errors


def is_stale(row: ObjectDescribe | None) -> bool:
    """True when the describe is missing, empty, marked stale, or older than DESCRIBE_MAX_AGE."""
    return (row is None or not row.fields or row.described_at is None
            or utcnow() - row.described_at > DESCRIBE_MAX_AGE)


def stale(session: Session, object_names: Iterable[str]) -> list[str]:
    """The objects of `object_names` whose describe is stale (in the order given)."""
    names = list(dict.fromkeys(object_names))
    rows = {row.object_name: row for row in session.scalars(
        select(ObjectDescribe).where(ObjectDescribe.object_name.in_(names)))} if names else {}
    return [name for name in names if is_stale(rows.get(name))]


def mark_stale(session: Session, object_name: str) -> None:
    """Have the next refresh describe `object_name` again (its facts stay readable meanwhile)."""
    row = session.get(ObjectDescribe, object_name)
    if row is not None:
        row.described_at = None


def fields_of(session: Session, object_name: str) -> dict[str, Any]:
    """The cached field facts of `object_name` ({} until it has been described)."""
    row = session.get(ObjectDescribe, object_name)
    return dict(row.fields or {}) if row is not None else {}


def fields_now(session: Session, gateway: Any, object_name: str, needs: str = "type") -> dict[str, Any]:
    """The field facts of `object_name` for work that cannot wait for a background refresh (a
    worker about to query Salesforce): the cached ones when fresh and holding the fact `needs`,
    else described now through `gateway` and cached. ValidationError when Salesforce refuses."""
    row = session.get(ObjectDescribe, object_name)
    if is_stale(row) or any(needs not in facts for facts in (row.fields if row else {}).values()):
        errors = refresh(session, gateway, [object_name])
        if errors:
            raise ValidationError(f"{object_name}: {errors[object_name]}")
    return fields_of(session, object_name)


def described(session: Session, object_names: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    """Field facts per described object (of `object_names`, or every one cached)."""
    query = select(ObjectDescribe)
    if object_names is not None:
        query = query.where(ObjectDescribe.object_name.in_(list(object_names)))
    return {row.object_name: dict(row.fields or {}) for row in session.scalars(query) if row.fields}
