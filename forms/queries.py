"""Named statements of the forms package (no SQL in views or services)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, literal, select, union_all

from forms.models import FormDefinition, Submission
from sync import read
from sync.read import Mirror

# Highest code point: every string starting with `p` sorts between `p` and `p + _TOP`.
_TOP = "\U0010ffff"


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def key_prefix(column: Any, prefix: str, dialect: str) -> Any:
    """`column` starts with `prefix`, written so that an index serves it on either database.

    PostgreSQL: LIKE 'p%' uses the text_pattern_ops index (forms migration). SQLite: its LIKE is
    case-insensitive and skips the index, but a range on the BINARY collation uses it.
    """
    if dialect == "postgresql":
        return column.like(_escape_like(prefix) + "%", escape="\\")
    return (column >= prefix) & (column < prefix + _TOP)


def people_by_key(column_name: str, prefix: str, objects: tuple[str, ...], dialect: str,
                  limit: int, exact: bool = False) -> Select[Any]:
    """Live people (of the person objects in `objects`) whose lookup key equals or starts with `prefix`."""
    column = getattr(Mirror, column_name)
    condition = column == prefix if exact else key_prefix(column, prefix, dialect)
    # No ORDER BY: on PostgreSQL an ORDER BY in the database collation makes the planner walk the
    # plain index from its start (tens of ms at 100,000 rows) instead of the pattern index's
    # range; the caller sorts the few rows it gets.
    return (select(Mirror)
            .where(condition, read.person_clause(Mirror, objects), Mirror.is_deleted.is_(False))
            .limit(limit))


def people_containing(column_name: str, fragment: str, objects: tuple[str, ...], limit: int) -> Select[Any]:
    """Live people (of the person objects in `objects`) whose lookup key contains `fragment` anywhere (LIMIT `limit`).

    `LIKE '%…%'`: on PostgreSQL the pg_trgm GIN index of that key serves it (migration
    forms_0002; from 3 characters on); elsewhere it is a scan the LIMIT bounds.
    """
    column = getattr(Mirror, column_name)
    return (select(Mirror)
            .where(column.like("%" + _escape_like(fragment) + "%", escape="\\"),
                   read.person_clause(Mirror, objects), Mirror.is_deleted.is_(False))
            .limit(limit))


def person(sf_id: str) -> Select[Any]:
    """One live Lead/Contact of the mirror by Id."""
    return select(Mirror).where(Mirror.sf_id == sf_id, Mirror.is_deleted.is_(False))


def definition(key: str) -> Select[Any]:
    """A form definition by key."""
    return select(FormDefinition).where(FormDefinition.key == key)


def definitions(audience: str | None = None) -> Select[Any]:
    """Every form definition (of one audience), by title."""
    stmt = select(FormDefinition).order_by(FormDefinition.audience, FormDefinition.title)
    return stmt.where(FormDefinition.audience == audience) if audience else stmt


def submission_by_key(idempotency_key: str) -> Select[Any]:
    """The submission made from one rendered form (its idempotency key)."""
    return select(Submission).where(Submission.idempotency_key == idempotency_key)


def submissions(form_key: str, status: str | None = None, search: str = "", limit: int | None = None,
                before_id: int | None = None) -> Select[Any]:
    """Submissions of a form, newest first, optionally by status and text search."""
    stmt = select(Submission).where(Submission.form_key == form_key)
    if status:
        stmt = stmt.where(Submission.status == status)
    for word in search.lower().split():
        stmt = stmt.where(Submission.search_text.like("%" + _escape_like(word) + "%", escape="\\"))
    if before_id:
        stmt = stmt.where(Submission.id < before_id)
    stmt = stmt.order_by(Submission.id.desc())
    return stmt.limit(limit) if limit else stmt


def submission_counts(form_key: str) -> Select[str, int]:
    """(status, count) of a form's submissions."""
    return (select(Submission.status, func.count()).where(Submission.form_key == form_key)
            .group_by(Submission.status))


def pending_submissions(limit: int) -> Select[Any]:
    """Submissions whose write-back has not finished yet, oldest first."""
    return (select(Submission).where(Submission.status.in_(("pending", "failed")))
            .order_by(Submission.id).limit(limit))


def recent_client_submissions(client_key: str, since: Any) -> Select[Any]:
    """How many submissions one client (public forms) made since `since`."""
    return (select(func.count()).select_from(Submission)
            .where(Submission.client_key == client_key, Submission.created_at >= since))


_RULE_KEYS = {"email": "email_key", "phone": "phone_key", "name_kana": "name_key"}


def match_rules(keys: dict[str, str | None], rules: list[str]) -> list[tuple[str, str, str]]:
    """(rule, key column, value) for each match rule the submission has a key for, in rule order."""
    out: list[tuple[str, str, str]] = []
    for rule in rules:
        column = _RULE_KEYS[rule]
        value = keys.get(column)
        if value and (rule != "name_kana" or keys.get("kana_key")):
            out.append((rule, column, value))
    return out


def match_candidates(object_name: str, rules: list[tuple[str, str, str]],
                     kana: str | None) -> Any:
    """(sf_id, rule) rows: up to 2 live records of `object_name` per rule, in one round trip.

    Two per rule is enough to tell 'exactly one' from 'ambiguous'.
    """
    parts = []
    for rule, column, value in rules:
        condition = getattr(Mirror, column) == value
        if rule == "name_kana":
            condition = condition & (Mirror.kana_key == kana)
        parts.append(select(Mirror.sf_id, literal(rule).label("rule"))
                     .where(Mirror.object_name == object_name, Mirror.is_deleted.is_(False), condition)
                     .limit(2).subquery())
    return union_all(*(select(part) for part in parts))


def owned_people(owner_id: str, objects: tuple[str, ...], key: tuple[str, str] | None,
                 after: tuple[str, str] | None, limit: int, dialect: str) -> Select[Any]:
    """Live people whose OwnerId is `owner_id`, in furigana order, one page after `after`.

    OwnerId is read with sync.read.field_text, the expression PostgreSQL's ix_mirror_f_ownerid
    index holds (object_name, fields ->> 'OwnerId'). `key` = (key column, prefix) narrows the page
    to a name or furigana prefix. Paged by (sort key, Id), never by OFFSET.
    """
    from sqlalchemy import tuple_

    sort = func.coalesce(Mirror.kana_key, Mirror.name_key, "")
    stmt = select(Mirror).where(read.field_text("OwnerId") == owner_id,
                                      read.person_clause(Mirror, objects), Mirror.is_deleted.is_(False))
    if key is not None:
        stmt = stmt.where(key_prefix(getattr(Mirror, key[0]), key[1], dialect))
    if after is not None:
        stmt = stmt.where(tuple_(sort, Mirror.sf_id) > tuple_(literal(after[0]), literal(after[1])))
    return stmt.order_by(sort, Mirror.sf_id).limit(limit)
