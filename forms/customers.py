"""担当のお客様: the Leads and Contacts a field rep owns in Salesforce, a page at a time.

The rep is mapped to their Salesforce User by people.sf_user (chosen by an admin, else the same
email address); their customers are the live people of the mirror with that OwnerId, read with
one indexed SQL query per page (forms.queries.owned_people), never by walking the mirror.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from forms import lookup, queries
from people.sf_user import salesforce_user_id
from sync import keys
from sync.read import person_objects

PAGE_SIZE = 20


@dataclass
class CustomerPage:
    """One page of a rep's customers; `owner_id` None when the rep has no Salesforce User."""

    owner_id: str | None
    query: str = ""
    rows: list[dict[str, Any]] = field(default_factory=list)
    next_after: str | None = None


def _cursor(sort_key: str, sf_id: str) -> str:
    return base64.urlsafe_b64encode(f"{sort_key}\t{sf_id}".encode()).decode()


def _after(cursor: str) -> tuple[str, str] | None:
    try:
        sort_key, _tab, sf_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("\t")
    except (ValueError, UnicodeDecodeError):
        return None
    return (sort_key, sf_id) if sf_id else None


def name_filter(typed: str) -> tuple[str, str] | None:
    """(key column, prefix) for a name or furigana typed into the list's search, or None."""
    text = keys.nfkc(typed)
    if not text:
        return None
    kana = keys.kana_key(text) if lookup.is_kana(text) else None
    if kana:
        return ("kana_key", kana)
    name = keys.name_key(text)
    return ("name_key", name) if name else None


def page_for(session: Session, user: Any, typed: str = "", cursor: str = "") -> CustomerPage:
    """The page of `user`'s customers after `cursor`, narrowed to names starting with `typed`."""
    owner = salesforce_user_id(session, user)
    typed = typed[:100]
    if owner is None:
        return CustomerPage(None, typed)
    after = _after(cursor) if cursor else None
    dialect = session.get_bind().dialect.name
    records = list(session.scalars(queries.owned_people(owner, person_objects(), name_filter(typed), after,
                                                        PAGE_SIZE + 1, dialect)))
    more = len(records) > PAGE_SIZE
    records = records[:PAGE_SIZE]
    last = records[-1] if more and records else None
    next_after = _cursor(last.kana_key or last.name_key or "", last.sf_id) if last is not None else None
    return CustomerPage(owner, typed, [lookup.summarize(r) for r in records], next_after)
