"""Conditions on a record and its related records, evaluated on the mirror.

A condition names a field path: `Field` on the record itself, `person.Field` on the related
person (the Lead or Contact behind a Task's WhoId or a CampaignMember's ContactId/LeadId), or
`Rel.Field` through any Id field of the record (`Who.` → WhoId, `Campaign.` → CampaignId,
`Owner.` → OwnerId, `Account.` → AccountId…). `MirrorView` loads records in bulk and caches them
so a batch of events costs a few queries, not one per condition.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync import read
from sync.read import Mirror

OPERATORS = ("eq", "ne", "in", "not_in", "contains", "starts_with", "is_set", "is_not_set", "is_true", "is_false",
             "gt", "gte", "lt", "lte")


class Record:
    """A mirrored record as automations see it: id, object name and Salesforce fields."""

    __slots__ = ("fields", "id", "is_deleted", "object_name")

    def __init__(self, sf_id: str, object_name: str, fields: dict[str, Any], is_deleted: bool = False) -> None:
        self.id = sf_id
        self.object_name = object_name
        self.fields = fields
        self.is_deleted = is_deleted


class MirrorView:
    """Read-through cache of mirror records for one batch of evaluation."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._records: dict[str, Record | None] = {}

    def load(self, ids: Iterable[str | None]) -> None:
        """Fetch every not-yet-cached id in one query."""
        wanted = {i for i in ids if i and i not in self._records}
        if not wanted:
            return
        rows = self.session.execute(
            select(Mirror.sf_id, Mirror.object_name, Mirror.fields, Mirror.is_deleted)
            .where(Mirror.sf_id.in_(wanted))
        )
        for sf_id, object_name, fields, is_deleted in rows:
            self._records[sf_id] = Record(sf_id, object_name, fields or {}, is_deleted)
        for missing in wanted - self._records.keys():
            self._records[missing] = None

    def get(self, sf_id: str | None) -> Record | None:
        """The record with this id, or None when it is not mirrored."""
        if not sf_id:
            return None
        if sf_id not in self._records:
            self.load([sf_id])
        return self._records[sf_id]

    def put(self, record: Record) -> None:
        """Cache a record already in hand."""
        self._records[record.id] = record

    def person_id_of(self, record: Record | None) -> str | None:
        """The Lead/Contact id a record is about (itself, WhoId, or ContactId/LeadId), if any."""
        if record is None:
            return None
        person_id = read.person_id_of(record.object_name, record.id, record.fields)
        if person_id and person_id.startswith("003") and "Contact" not in read.person_objects():
            # A Person Account's hidden Contact (WhoId, CampaignMember.ContactId): the person is its Account.
            contact = self.get(person_id)
            if contact is not None and contact.fields.get("IsPersonAccount") is True:
                return str(contact.fields.get("AccountId") or person_id)
        return person_id

    def person_of(self, record: Record | None) -> Record | None:
        """The related person record from the mirror, if mirrored."""
        return self.get(self.person_id_of(record))

    def prefetch_related(self, records: Iterable[Record | None], paths: Iterable[str]) -> None:
        """Load every record the given paths reach from `records`, in one query per hop."""
        present = [r for r in records if r is not None]
        rels = {p.split(".", 1)[0] for p in paths if "." in p}
        ids: set[str] = set()
        for r in present:
            for rel in rels:
                if rel == "person":
                    ids.add(self.person_id_of(r) or "")
                else:
                    value = r.fields.get(f"{rel}Id")
                    if isinstance(value, str):
                        ids.add(value)
        self.load(ids)

    def resolve(self, record: Record, path: str) -> Any:
        """The value at `path` from `record` (None when a hop is missing)."""
        if "." not in path:
            return record.fields.get(path)
        rel, field = path.split(".", 1)
        target = self.person_of(record) if rel == "person" else self.get(record.fields.get(f"{rel}Id"))
        return None if target is None else target.fields.get(field)


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except (TypeError, ValueError):
        return None


def _equal(a: Any, b: Any) -> bool:
    if a == b:
        return True
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return False
    # Salesforce returns numbers as numbers, YAML authors often write them as text: compare as text.
    return str(a) == str(b)


def check_value(op: str, actual: Any, expected: Any) -> bool:
    """Apply one operator to a resolved value."""
    if op == "eq":
        return _equal(actual, expected)
    if op == "ne":
        return not _equal(actual, expected)
    if op == "in":
        return any(_equal(actual, e) for e in expected or [])
    if op == "not_in":
        return not any(_equal(actual, e) for e in expected or [])
    if op == "is_set":
        return actual not in (None, "")
    if op == "is_not_set":
        return actual in (None, "")
    if op == "is_true":
        return actual is True or str(actual).lower() == "true"
    if op == "is_false":
        return not (actual is True or str(actual).lower() == "true")
    if op == "contains":
        return actual is not None and str(expected) in str(actual)
    if op == "starts_with":
        return actual is not None and str(actual).startswith(str(expected))
    a, b = _as_number(actual), _as_number(expected)
    if a is not None and b is not None:
        return _ordered(op, a, b)
    # Dates in ISO form compare correctly as text.
    if actual is None or expected is None:
        return False
    return _ordered(op, str(actual), str(expected))


_Comparable = TypeVar("_Comparable", float, str)


def _ordered(op: str, a: _Comparable, b: _Comparable) -> bool:
    """gt, gte, lt or lte of two numbers or two texts."""
    return {"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[op]


def failing_condition(view: MirrorView, record: Record, conditions: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first condition `record` does not meet, or None when all hold."""
    for cond in conditions:
        if not check_value(cond["op"], view.resolve(record, cond["field"]), cond.get("value")):
            return cond
    return None


def describe(cond: dict[str, Any]) -> str:
    """A short human-readable form of a condition, for history and dry runs."""
    return f"{cond['field']} {cond['op']} {cond.get('value')!r}"
