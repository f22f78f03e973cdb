"""The read side of the mirror: the one place that knows how `mirror_records` keeps a record.

`sync.mirror.apply_records` writes the mirror; this module is how every other package reads it:
records and people by id, the person (Lead or Contact) a record is about, its owner, and SQL
expressions over one Salesforce field of the JSON `fields` document that mean the same on
PostgreSQL (`fields ->> 'X'`, `jsonb_typeof`) and SQLite (`json_extract`, `json_type`).

Field expressions render the field name as a literal, never a bound parameter, so that the
PostgreSQL planner can match them against the expression indexes `INDEXED_FIELDS` lists (a
`fields ->> $1` is not the indexed expression `fields ->> 'Email'`). Names are checked against
`FIELD_NAME` first, so nothing a person typed reaches the SQL text unchecked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Float, Select, String, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.sql.visitors import InternalTraversal

from sync.models import MirrorRecord

# "A person" is a Lead or a Contact; their ids start with 00Q and 003 (Salesforce key prefixes).
PERSON_OBJECTS = ("Lead", "Contact")
PERSON_PREFIXES = ("00Q", "003")
FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)?$")
# (object, field) pairs segments, lookup and reports filter or group on; each has a PostgreSQL
# expression index `ix_mirror_f_<field>` on (object_name, fields ->> '<field>') (migration
# sync_0003_scale_read_fieldidx).
INDEXED_FIELDS = ("MailingState", "State", "LeadSource", "CampaignId", "ContactId", "LeadId", "WhoId",
                  "AccountId", "OwnerId", "Status")
# Indexes only PostgreSQL has, made by migrations and not declared on the models (SQLAlchemy
# cannot declare a per-dialect expression index); schema comparison skips them by name.
POSTGRESQL_ONLY_INDEXES = (*(f"ix_mirror_f_{f.lower()}" for f in INDEXED_FIELDS), "ix_activities_mail_id",
                           # pg_trgm GIN indexes for infix look-up (migration forms_0002, when pg_trgm is there)
                           "ix_mirror_phone_trgm", "ix_mirror_email_trgm")


def include_in_schema_comparison(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic `include_object`: leave out the PostgreSQL-only expression indexes."""
    return not (type_ == "index" and name in POSTGRESQL_ONLY_INDEXES)


def _checked(name: str) -> str:
    if not FIELD_NAME.match(name):
        raise ValueError(f"not a Salesforce field name: {name!r}")
    return name


class _Field(FunctionElement[Any]):
    """One field of a `fields` document; `part` says which view of it (text, type or number)."""

    inherit_cache = True
    # The name and the view are part of the statement-cache key (else two fields would share SQL).
    _traverse_internals = [*FunctionElement._traverse_internals,  # noqa: RUF012
                           ("field_name", InternalTraversal.dp_string), ("part", InternalTraversal.dp_string)]

    def __init__(self, document: Any, name: str, part: str) -> None:
        self.field_name = _checked(name)
        self.part = part
        super().__init__(document)
        self.type = Float() if part == "number" else String()


@compiles(_Field, "postgresql")
def _field_postgresql(element: _Field, compiler: Any, **kw: Any) -> str:
    document = compiler.process(next(iter(element.clauses)), **kw)
    name = element.field_name
    if element.part == "text":
        return f"({document} ->> '{name}')"
    if element.part == "type":
        return f"jsonb_typeof({document} -> '{name}')"
    # The cast is guarded: only JSON numbers are cast (a text value would raise).
    return (f"(CASE WHEN jsonb_typeof({document} -> '{name}') = 'number' "
            f"THEN ({document} ->> '{name}')::float8 END)")


@compiles(_Field, "sqlite")
def _field_sqlite(element: _Field, compiler: Any, **kw: Any) -> str:
    document = compiler.process(next(iter(element.clauses)), **kw)
    path = f"'$.\"{element.field_name}\"'"
    kind = f"json_type({document}, {path})"
    value = f"json_extract({document}, {path})"
    if element.part == "text":
        # Same text as PostgreSQL's ->>: booleans as 'true'/'false', numbers as their digits.
        return f"(CASE {kind} WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE CAST({value} AS TEXT) END)"
    if element.part == "type":
        return (f"(CASE {kind} WHEN 'text' THEN 'string' WHEN 'integer' THEN 'number' WHEN 'real' THEN 'number' "
                f"WHEN 'true' THEN 'boolean' WHEN 'false' THEN 'boolean' ELSE {kind} END)")
    return f"(CASE WHEN {kind} IN ('integer', 'real') THEN {value} END)"


def field_text(name: str, record: Any = MirrorRecord) -> ColumnElement[str]:
    """The field's value as text (NULL when missing or JSON null); booleans are 'true'/'false'."""
    return _Field(record.fields, name, "text")  # type: ignore[return-value]


def document_text(document: Any, name: str) -> ColumnElement[str]:
    """`field_text` of any JSON document column (e.g. an activity's details), index-matchable."""
    return _Field(document, name, "text")  # type: ignore[return-value]


def field_type(name: str, record: Any = MirrorRecord) -> ColumnElement[str]:
    """The field's JSON type: 'string', 'number', 'boolean', 'null' (NULL when the key is missing)."""
    return _Field(record.fields, name, "type")  # type: ignore[return-value]


def field_number(name: str, record: Any = MirrorRecord) -> ColumnElement[float]:
    """The field's value when it is a JSON number, else NULL."""
    return _Field(record.fields, name, "number")  # type: ignore[return-value]


def is_person(record: Any = MirrorRecord) -> list[ColumnElement[bool]]:
    """WHERE clauses of a live (not deleted) Lead or Contact."""
    return [record.object_name.in_(PERSON_OBJECTS), record.is_deleted.is_(False)]


def campaign_member_person(record: Any = MirrorRecord) -> ColumnElement[str]:
    """The Lead/Contact id of a CampaignMember row (ContactId when set, else LeadId)."""
    return func.coalesce(func.nullif(field_text("ContactId", record), ""), field_text("LeadId", record))


def people(objects: Iterable[str] = PERSON_OBJECTS) -> Select[Any]:
    """SELECT sf_id, object_name, fields of live people of `objects`, in id order."""
    return (select(MirrorRecord.sf_id, MirrorRecord.object_name, MirrorRecord.fields)
            .where(MirrorRecord.object_name.in_(list(objects)), MirrorRecord.is_deleted.is_(False))
            .order_by(MirrorRecord.sf_id))


def live_records(object_name: str) -> Select[Any]:
    """SELECT sf_id, fields of every live (not deleted) record of one object."""
    return (select(MirrorRecord.sf_id, MirrorRecord.fields)
            .where(MirrorRecord.object_name == object_name, MirrorRecord.is_deleted.is_(False)))


def person_id_of(object_name: str, sf_id: str, fields: dict[str, Any]) -> str | None:
    """The Lead/Contact id a record is about: itself, its WhoId, its ContactId/LeadId, or an
    opportunity's ContactId."""
    if object_name in PERSON_OBJECTS:
        return sf_id
    if object_name in ("Task", "Event"):
        who = fields.get("WhoId")
        return who if isinstance(who, str) and who.startswith(PERSON_PREFIXES) else None
    if object_name == "CampaignMember":
        return fields.get("ContactId") or fields.get("LeadId")
    if object_name == "Opportunity":
        # The opportunity's contact (Opportunity.ContactId, API 49.0+) is the person it is about.
        contact = fields.get("ContactId")
        return contact if isinstance(contact, str) and contact.startswith(PERSON_PREFIXES) else None
    return None


def records_by_id(session: Session, ids: Iterable[str]) -> dict[str, MirrorRecord]:
    """Mirrored records (deleted ones included) by id, in one query."""
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    return {r.sf_id: r for r in session.scalars(select(MirrorRecord).where(MirrorRecord.sf_id.in_(wanted)))}


def owner_of(session: Session, fields: dict[str, Any]) -> MirrorRecord | None:
    """The mirrored User named by a record's OwnerId, if any."""
    owner = fields.get("OwnerId")
    return session.get(MirrorRecord, owner) if isinstance(owner, str) and owner else None


def count_by_object(session: Session) -> list[tuple[str, int, Any]]:
    """(object, live records, latest last_seen_at) per mirrored object, by name."""
    return [tuple(r) for r in session.execute(  # type: ignore[misc]
        select(MirrorRecord.object_name, func.count(), func.max(MirrorRecord.last_seen_at))
        .where(MirrorRecord.is_deleted.is_(False)).group_by(MirrorRecord.object_name)
        .order_by(MirrorRecord.object_name))]

