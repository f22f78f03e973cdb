"""Named statements of the forms package (no SQL in views or services)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select

from forms.models import FormDefinition, Submission
from sync.models import MirrorRecord

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
    """Live Leads/Contacts of the mirror whose lookup key equals or starts with `prefix`."""
    column = getattr(MirrorRecord, column_name)
    condition = column == prefix if exact else key_prefix(column, prefix, dialect)
    return (select(MirrorRecord)
            .where(condition, MirrorRecord.object_name.in_(objects), MirrorRecord.is_deleted.is_(False))
            .order_by(column, MirrorRecord.sf_id)
            .limit(limit))


def person(sf_id: str) -> Select[Any]:
    """One live Lead/Contact of the mirror by Id."""
    return select(MirrorRecord).where(MirrorRecord.sf_id == sf_id, MirrorRecord.is_deleted.is_(False))


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


def submission_counts(form_key: str) -> Select[Any]:
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


def match_person(object_name: str, keys: dict[str, str | None], rules: list[str]) -> list[tuple[str, Select[Any]]]:
    """(rule, statement) per applicable match rule, in rule order; each finds up to 2 candidates.

    `keys` holds the submission's email_key, phone_key, name_key and kana_key.
    """
    base = select(MirrorRecord).where(MirrorRecord.object_name == object_name,
                                      MirrorRecord.is_deleted.is_(False)).limit(2)
    stmts = []
    for rule in rules:
        if rule == "email" and keys.get("email_key"):
            stmts.append((rule, base.where(MirrorRecord.email_key == keys["email_key"])))
        elif rule == "phone" and keys.get("phone_key"):
            stmts.append((rule, base.where(MirrorRecord.phone_key == keys["phone_key"])))
        elif rule == "name_kana" and keys.get("name_key") and keys.get("kana_key"):
            stmts.append((rule, base.where(MirrorRecord.name_key == keys["name_key"],
                                           MirrorRecord.kana_key == keys["kana_key"])))
    return stmts
