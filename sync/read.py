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

from sqlalchemy import ColumnElement, Float, Select, String, and_, false, func, or_, select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.sql.selectable import NamedFromClause
from sqlalchemy.sql.visitors import InternalTraversal

from config.person_model import PersonModel, PersonObject, default_model
from sync.models import MirrorRecord

# The mirror's row, as the SQL builders of other packages (segments, conditions, dedupe, reports,
# forms' look-up) select, join and filter it: its columns — id, object, deleted flag, stamps and the
# normalized look-up keys (`email_key`, `phone_key`…) with their indexes (sync/models.py) — are part
# of this API; field values are read only through `field_text`/`field_number`/`field_type` below.
# Annotations name a loaded record `Mirror` too. `sync.models.MirrorRecord` itself is sync's
# (ruff TID251 refuses it elsewhere).
Mirror = MirrorRecord

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
    return _Field(record.fields, name, "text")


def document_text(document: Any, name: str) -> ColumnElement[str]:
    """`field_text` of any JSON document column (e.g. an activity's details), index-matchable."""
    return _Field(document, name, "text")


def field_type(name: str, record: Any = MirrorRecord) -> ColumnElement[str]:
    """The field's JSON type: 'string', 'number', 'boolean', 'null' (NULL when the key is missing)."""
    return _Field(record.fields, name, "type")


def field_number(name: str, record: Any = MirrorRecord) -> ColumnElement[float]:
    """The field's value when it is a JSON number, else NULL."""
    return _Field(record.fields, name, "number")


_DEFAULT_MODEL = default_model()


def person_model() -> PersonModel:
    """The person model of the running app (PERSON_MODEL), or the default outside an app context.

    Every package asks here which objects are people and which fields hold their email, phone,
    names, kana, opt-out, member number and conversion (config/person_model.py).
    """
    from flask import current_app, has_app_context

    if has_app_context():
        settings = current_app.config.get("TSUNAGI")
        if settings is not None:
            return settings.person_model
    return _DEFAULT_MODEL


def person_objects() -> tuple[str, ...]:
    """Names of the objects whose records are people (Lead, Contact; Account for Person Accounts)."""
    return person_model().names


def person_of(object_name: str | None, fields: dict[str, Any]) -> PersonObject | None:
    """The model of a record when it is a person (a business Account is not), else None."""
    obj = person_model().get(object_name)
    return obj if obj is not None and obj.is_person(fields) else None


def person_email(object_name: str | None, fields: dict[str, Any]) -> str | None:
    """A person record's email address (its model's email fields, first non-empty), or None."""
    obj = person_of(object_name, fields)
    return obj.first(obj.email, fields) if obj else None


def person_phone(object_name: str | None, fields: dict[str, Any]) -> str | None:
    """A person record's phone number (its model's phone fields, first non-empty), or None."""
    obj = person_of(object_name, fields)
    return obj.first(obj.phone, fields) if obj else None


def opted_out(object_name: str | None, fields: dict[str, Any]) -> bool:
    """True when a person record has opted out of email (HasOptedOutOfEmail or its model's field)."""
    obj = person_of(object_name, fields)
    return bool(obj and obj.opted_out and fields.get(obj.opted_out) is True)


def is_converted(object_name: str | None, fields: dict[str, Any]) -> bool:
    """True when a person record is a converted Lead (IsConverted or its model's field)."""
    obj = person_of(object_name, fields)
    return bool(obj and obj.converted and fields.get(obj.converted) is True)


def opt_out_field(object_name: str | None) -> str | None:
    """The opt-out checkbox of a person object (to write back an unsubscribe), or None."""
    obj = person_model().get(object_name)
    return obj.opted_out if obj else None


def person_object_of_id(person_id: str | None) -> str | None:
    """The person object an id belongs to, by its key prefix (None for other ids)."""
    obj = person_model().object_of_id(person_id)
    return obj.name if obj else None


def _first_of(names: list[str], record: Any) -> ColumnElement[str]:
    texts = [func.nullif(field_text(n, record), "") for n in dict.fromkeys(names) if "." not in n]
    return func.coalesce(*texts) if len(texts) > 1 else texts[0]


def email_text(record: Any = MirrorRecord) -> ColumnElement[str]:
    """SQL: a person row's email (the person model's email fields, first non-empty)."""
    return _first_of([f for o in person_model().objects for f in o.email] or ["Email"], record)


def phone_text(record: Any = MirrorRecord) -> ColumnElement[str]:
    """SQL: a person row's phone (the person model's phone fields, first non-empty)."""
    return _first_of([f for o in person_model().objects for f in o.phone] or ["Phone"], record)


def opted_out_clause(record: Any = MirrorRecord) -> ColumnElement[bool]:
    """SQL: the person row has opted out of email (any person object's opt-out checkbox is true)."""
    names = list(dict.fromkeys(o.opted_out for o in person_model().objects if o.opted_out))
    if not names:
        return false()
    clauses = [field_text(n, record) == "true" for n in names]
    return clauses[0] if len(clauses) == 1 else or_(*clauses)


# A Person Account's person fields under the names mail templates use for any person (person.Email…).
_MERGE_ALIASES = {"PersonBirthdate": "Birthdate", "PersonTitle": "Title", "PersonLeadSource": "LeadSource",
                  **{f"PersonMailing{p}": f"Mailing{p}" for p in ("PostalCode", "State", "City", "Street")}}


def merge_fields(object_name: str | None, fields: dict[str, Any]) -> dict[str, Any]:
    """A person's fields for mail merge: as mirrored, plus for a Person Account the names templates use
    for any person (`Email`, `Phone`, `HasOptedOutOfEmail`, `Mailing*`, `Birthdate`…) from its person
    fields, so one template greets a Lead, a Contact and a Person Account alike."""
    out = dict(fields)
    obj = person_of(object_name, fields)
    if obj is None or not obj.person_flag:
        return out  # a Lead's or Contact's fields already have these names
    for source, alias in _MERGE_ALIASES.items():
        if fields.get(source) is not None and out.get(alias) is None:
            out[alias] = fields[source]
    for alias, value in (("Email", obj.first(obj.email, fields)), ("Phone", obj.first(obj.phone, fields)),
                         ("HasOptedOutOfEmail", fields.get(obj.opted_out) if obj.opted_out else None)):
        if value is not None and out.get(alias) is None:
            out[alias] = value
    return out


def is_person(record: Any = MirrorRecord) -> list[ColumnElement[bool]]:
    """WHERE clauses of a live (not deleted) person: a record of a person object (an Account only
    when its person flag, IsPersonAccount, is true)."""
    return [person_clause(record), record.is_deleted.is_(False)]


def person_clause(record: Any = MirrorRecord, objects: Iterable[str] | None = None) -> ColumnElement[bool]:
    """WHERE clause: the record is of a person object (of `objects` when given) and is a person."""
    model = person_model()
    wanted = [o for o in model.objects if objects is None or o.name in set(objects)]
    plain = [o.name for o in wanted if not o.person_flag]
    clauses: list[ColumnElement[bool]] = []
    if plain:
        clauses.append(record.object_name.in_(plain))
    for obj in wanted:
        if obj.person_flag:
            clauses.append(and_(record.object_name == obj.name, field_text(obj.person_flag, record) == "true"))
    if not clauses:
        return false()
    return clauses[0] if len(clauses) == 1 else or_(*clauses)


def campaign_member_person(record: Any = MirrorRecord) -> ColumnElement[str]:
    """The Lead/Contact id of a CampaignMember row (ContactId when set, else LeadId)."""
    return func.coalesce(func.nullif(field_text("ContactId", record), ""), field_text("LeadId", record))


def people(objects: Iterable[str] | None = None) -> Select[Any]:
    """SELECT sf_id, object_name, fields of live people (of `objects` when given), in id order."""
    return (select(MirrorRecord.sf_id, MirrorRecord.object_name, MirrorRecord.fields)
            .where(person_clause(MirrorRecord, objects), MirrorRecord.is_deleted.is_(False))
            .order_by(MirrorRecord.sf_id))


def live_records(object_name: str, *, by_id: bool = False) -> Select[Any]:
    """SELECT sf_id, fields of every live (not deleted) record of one object (in id order when
    `by_id`: for walking it in chunks)."""
    stmt = live_ids(object_name).add_columns(MirrorRecord.fields)
    return stmt.order_by(MirrorRecord.sf_id) if by_id else stmt


def live_ids(object_name: str) -> Select[Any]:
    """SELECT sf_id of every live record of one object; callers add conditions on its fields
    (`.where(field_text("CampaignId") == …)`) and columns (`.add_columns(field_text(…))`)."""
    return select(MirrorRecord.sf_id).where(MirrorRecord.object_name == object_name,
                                            MirrorRecord.is_deleted.is_(False))


def person_id_of(object_name: str, sf_id: str, fields: dict[str, Any]) -> str | None:
    """The person id a record is about: itself, its WhoId, its ContactId/LeadId, or an
    opportunity's ContactId (a Person Account's Contact id as Salesforce stores it there)."""
    if person_of(object_name, fields) is not None:
        return sf_id
    # Activities and campaign members name a Contact or Lead, also when the person is a Person Account.
    prefixes = ("00Q", "003")
    if object_name in ("Task", "Event"):
        who = fields.get("WhoId")
        return who if isinstance(who, str) and who.startswith(prefixes) else None
    if object_name == "CampaignMember":
        return fields.get("ContactId") or fields.get("LeadId")
    if object_name == "Opportunity":
        # The opportunity's contact (Opportunity.ContactId, API 49.0+) is the person it is about.
        contact = fields.get("ContactId")
        return contact if isinstance(contact, str) and contact.startswith(prefixes) else None
    return None


def who_id(object_name: str | None, sf_id: str, fields: dict[str, Any]) -> str:
    """The id Salesforce wants in WhoId / CampaignMember.ContactId for this person record: a Person
    Account's Contact (PersonContactId), else the record's own id."""
    obj = person_of(object_name, fields)
    contact = fields.get(obj.person_contact) if obj is not None and obj.person_contact else None
    return contact if isinstance(contact, str) and contact else sf_id


def who_ids(session: Session, person_ids: Iterable[str]) -> dict[str, str]:
    """Person id → the id Salesforce wants in WhoId / CampaignMember.ContactId, where they differ.

    A Person Account (001…) is named there by its hidden Contact (PersonContactId, 003…); Leads
    and Contacts name themselves and are left out of the answer.
    """
    model = person_model()
    accounts = [o for o in model.objects if o.person_contact]
    wanted = sorted({i for i in person_ids if i and any(i.startswith(o.prefix) for o in accounts)})
    if not wanted:
        return {}
    found: dict[str, str] = {}
    for sf_id, object_name, fields in session.execute(
            select(MirrorRecord.sf_id, MirrorRecord.object_name, MirrorRecord.fields)
            .where(MirrorRecord.sf_id.in_(wanted))):
        obj = model.get(object_name)
        contact = (fields or {}).get(obj.person_contact) if obj and obj.person_contact else None
        if isinstance(contact, str) and contact:
            found[sf_id] = contact
    return found


def people_of_contacts(session: Session, contact_ids: Iterable[str]) -> dict[str, str]:
    """A Person Account's Contact id (PersonContactId) → the Account id the person model calls the
    person, for the ids among `contact_ids` that belong to a Person Account (when Accounts are people)."""
    model = person_model()
    wanted = sorted({i for i in contact_ids if i and i.startswith("003")})
    found: dict[str, str] = {}
    for obj in model.objects:
        if not obj.person_contact or not wanted:
            continue
        column = field_text(obj.person_contact)
        for sf_id, contact in session.execute(
                select(MirrorRecord.sf_id, column).where(MirrorRecord.object_name == obj.name,
                                                         column.in_(wanted), MirrorRecord.is_deleted.is_(False))):
            found[contact] = sf_id
    return found


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
    rows = session.execute(
        select(MirrorRecord.object_name, func.count(), func.max(MirrorRecord.last_seen_at))
        .where(MirrorRecord.is_deleted.is_(False)).group_by(MirrorRecord.object_name)
        .order_by(MirrorRecord.object_name))
    return [(name, count, latest) for name, count, latest in rows]



def mirror_alias(name: str | None = None) -> type[MirrorRecord]:
    """The mirror once more under another name, for a query that joins records with records
    (a person with its Account, a CampaignMember with its person, two people sharing a key)."""
    return aliased(MirrorRecord, name=name)


def mirror_table(name: str) -> NamedFromClause:
    """The mirror's table under the SQL alias `name` (Core columns: `.c.sf_id`, `.c.fields`…)."""
    return MirrorRecord.__table__.alias(name)


def sql_text(expression: ColumnElement[Any], dialect: Dialect) -> str:
    """An expression of this module as SQL text for `dialect`, for the reports written as text()
    (reports/opportunities.py): the same field SQL as everywhere else, indexes matched alike."""
    return str(expression.compile(dialect=dialect))


def ids_with_email(session: Session, key: str | None, objects: Iterable[str], limit: int = 20) -> list[tuple[str, str]]:
    """(sf_id, object_name) of live records of `objects` whose email key (sync.keys.email_key) is
    `key`, by object name then id; an index look-up ([] for no key)."""
    if not key:
        return []
    rows = session.execute(
        select(MirrorRecord.sf_id, MirrorRecord.object_name)
        .where(MirrorRecord.email_key == key, MirrorRecord.object_name.in_(list(objects)),
               MirrorRecord.is_deleted.is_(False))
        .order_by(MirrorRecord.object_name, MirrorRecord.sf_id).limit(limit))
    return [(sf_id, object_name) for sf_id, object_name in rows]


def record(session: Session, sf_id: str) -> MirrorRecord | None:
    """The mirrored record with this id (deleted ones included), or None."""
    return session.get(MirrorRecord, sf_id)
