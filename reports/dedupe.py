"""Data quality (名寄せ): likely duplicate people, invalid addresses and numbers, missing fields.

Duplicates compare the normalized keys sync keeps on every mirror row (sync/keys.py), so
株式会社ＡＢＣ and (株)ABC, or 090-1234-5678 and ０９０１２３４５６７８, meet. Three rules, across
Leads and Contacts alike: the same email; the same phone; the same name and kana and company.
Each is an equality join on an indexed key; pairs an admin dismissed are left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import and_, func, select, tuple_
from sqlalchemy.orm import Session, aliased

from reports.models import DuplicateDismissal
from sync import read
from sync.keys import phone_key
from sync.read import Mirror, field_number, field_text, field_type

MAX_PAIRS = 5000
MAX_ROWS = 5000


@dataclass
class DuplicatePair:
    """Two people who are probably one, and which rules matched."""

    first: Any  # a Mirror, or a PersonSide from a snapshot
    second: Any
    reasons: list[str] = field(default_factory=list)


def _person(alias: Any) -> list[Any]:
    return read.is_person(alias)


def duplicate_pairs(session: Session, limit: int = MAX_PAIRS, exclude_dismissed: bool = True) -> list[DuplicatePair]:
    """Likely duplicates, strongest evidence first (more matching rules, then email over phone).

    Per rule, the first `limit` pairs in id order: people holding a key value someone else holds
    too (one GROUP BY … HAVING over the key) are walked in id order, and each is paired with the
    later holders of its value through the key index, until `limit` pairs are found. Neither a
    clean mirror nor a common name shared by thousands makes this a self-join of everyone.
    """
    rules = {
        "email": ("email_key",),
        "phone": ("phone_key",),
        "name_kana_company": ("name_key", "kana_key", "company_key"),
    }
    dismissed = dismissed_pairs(session) if exclude_dismissed else set()
    pairs: dict[tuple[str, str], DuplicatePair] = {}
    for reason, names in rules.items():
        for first, second in _rule_pairs(session, names, limit):
            key = (first.sf_id, second.sf_id)
            if key in dismissed:
                continue
            pairs.setdefault(key, DuplicatePair(first, second)).reasons.append(reason)
    order = {"email": 0, "phone": 1, "name_kana_company": 2}
    return sorted(pairs.values(), key=lambda p: (-len(p.reasons), order[p.reasons[0]], p.first.sf_id,
                                                 p.second.sf_id))[:limit]


def _rule_pairs(session: Session, names: tuple[str, ...], limit: int) -> list[tuple[Any, Any]]:
    """The first `limit` (first, second) pairs, first.sf_id < second.sf_id, equal on every key in `names`."""
    keys = [getattr(Mirror, n) for n in names]
    shared = (select(*keys).where(*_person(Mirror), *(k.is_not(None) for k in keys))
              .group_by(*keys).having(func.count() > 1).subquery())
    a = read.mirror_alias()
    out: list[tuple[Any, Any]] = []
    after = ""
    # A first small chunk finds the pairs of large groups (a common name) at once; then one chunk
    # of 2 × limit people usually covers the rest (pairs of two), so the GROUP BY runs twice at most.
    chunk = 16
    while len(out) < limit:
        firsts = list(session.scalars(
            select(a).join(shared, and_(*(getattr(a, n) == shared.c[n] for n in names)))
            .where(*_person(a), a.sf_id > after).order_by(a.sf_id).limit(chunk)))
        start, batch_size = 0, 1
        while start < len(firsts):
            batch = firsts[start:start + batch_size]
            start, batch_size = start + batch_size, min(4 * batch_size, HOLDERS_BATCH)
            holders = _holders(session, names, {_values(f, names) for f in batch}, limit + 1)
            for first in batch:
                later = [h for h in holders.get(_values(first, names), []) if h.sf_id > first.sf_id]
                out.extend((first, second) for second in later[:limit - len(out)])
                if len(out) >= limit:
                    return out
        if len(firsts) < chunk:
            break
        after, chunk = firsts[-1].sf_id, 2 * limit + 2
    return out


# People whose key values are fetched together (one query per batch, not one per person).
HOLDERS_BATCH = 500


def _values(record: Any, names: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(getattr(record, n) for n in names)


def _holders(session: Session, names: tuple[str, ...], values: set[tuple[Any, ...]],
             cap: int) -> dict[tuple[Any, ...], list[Any]]:
    """Per key value, its first `cap` holders in id order (more are never paired within the limit)."""
    keys = [getattr(Mirror, n) for n in names]
    ranked = (select(Mirror, func.row_number().over(partition_by=keys, order_by=Mirror.sf_id)
                     .label("rank"))
              .where(tuple_(*keys).in_(sorted(values)), *_person(Mirror)).subquery())
    holder = aliased(Mirror, ranked)
    out: dict[tuple[Any, ...], list[Any]] = {}
    for record in session.scalars(select(holder).where(ranked.c.rank <= cap).order_by(holder.sf_id)):
        out.setdefault(_values(record, names), []).append(record)
    return out


@dataclass
class PersonSide:
    """One person of a stored pair: what the report shows of them."""

    sf_id: str
    object_name: str
    fields: dict[str, Any]


def pairs_from_snapshot(session: Session, stored: list[dict[str, Any]]) -> list[DuplicatePair]:
    """Stored pairs as DuplicatePairs, without those dismissed since the snapshot was taken."""
    dismissed = dismissed_pairs(session)
    return [DuplicatePair(PersonSide(**p["first"]), PersonSide(**p["second"]), list(p["reasons"]))
            for p in stored if (p["first"]["sf_id"], p["second"]["sf_id"]) not in dismissed]


def dismissed_pairs(session: Session) -> set[tuple[str, str]]:
    """Every (first, second) id pair an admin marked 'not a duplicate'."""
    return {(d.first_id, d.second_id) for d in session.scalars(select(DuplicateDismissal))}


def dismiss(session: Session, first_id: str, second_id: str, by: str) -> bool:
    """Mark a pair 'not a duplicate' (order does not matter); False when it already was."""
    low, high = sorted((first_id, second_id))
    if session.get(DuplicateDismissal, (low, high)) is not None:
        return False
    session.add(DuplicateDismissal(first_id=low, second_id=high, dismissed_by=by))
    session.flush()
    return True


def _email_problem(value: str) -> str | None:
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        return str(exc)
    return None


# Values these match are certainly valid (tested against email_validator and phonenumbers over
# generated samples), so only the rest are read back and checked exactly in Python: the report
# needs no pass over the mirror. Anything else (a hyphenated label, full-width digits, another
# area code) is merely a candidate, never a finding by itself.
SURELY_VALID_EMAIL = r"^[A-Za-z0-9_+-]+(\.[A-Za-z0-9_+-]+)*@([A-Za-z0-9]+(-[A-Za-z0-9]+)*\.)+[A-Za-z]{2,}$"
SPECIAL_USE_DOMAIN = r"\.(arpa|invalid|local|localhost|onion|test)$"  # email_validator refuses these
SURELY_VALID_PHONE = r"^(0[789]0-?[1-9][0-9]{3}-?[0-9]{4}|0[36]-?[1-9][0-9]{3}-?[0-9]{4})$"
BLANK = r"^\s*$"


def _present(text: Any) -> Any:
    return and_(text.is_not(None), text != "")


def _invalid_candidate() -> Any:
    """SQL: an email or phone field of the person model holds a value that is not surely valid
    (regexp on both databases)."""
    from sqlalchemy import not_, or_

    model = read.person_model()
    emails = sorted({n for o in model.objects for n in o.email})
    phones = sorted({n for o in model.objects for n in o.phone})
    unsure = []
    for name in emails:
        email = field_text(name)
        surely = and_(func.length(email) <= 64, email.regexp_match(SURELY_VALID_EMAIL),
                      not_(func.lower(email).regexp_match(SPECIAL_USE_DOMAIN)))
        unsure.append(and_(_present(email), not_(surely)))
    unsure += [and_(_present(field_text(n)), not_(field_text(n).regexp_match(SURELY_VALID_PHONE))) for n in phones]
    return or_(*unsure)


def invalid_contacts(session: Session, limit: int = MAX_ROWS) -> list[dict[str, Any]]:
    """People whose Email or phone fields hold something that is not a usable address or number.

    SQL picks the candidates (a value that is not surely valid); only those are checked exactly.
    """
    out: list[dict[str, Any]] = []
    stmt = (select(Mirror.sf_id, Mirror.object_name, Mirror.fields)
            .where(*_person(Mirror), _invalid_candidate())
            .order_by(Mirror.sf_id).execution_options(yield_per=2000))
    model = read.person_model()
    for sf_id, object_name, fields in session.execute(stmt):
        person = model.get(object_name)
        if person is None:
            continue
        for name in person.email:
            email = str(fields.get(name) or "").strip()
            if email and (problem := _email_problem(email)):
                out.append({"id": sf_id, "object": object_name, "field": name, "value": email, "problem": problem})
        for name in person.phone:
            value = str(fields.get(name) or "").strip()
            if value and phone_key(value) is None:
                out.append({"id": sf_id, "object": object_name, "field": name, "value": value,
                            "problem": "電話番号として無効です (not a valid phone number)"})
        if len(out) >= limit:
            break
    return out[:limit]


def _missing(name: str) -> Any:
    """SQL: the field is empty as Python's `str(value or "").strip()` sees it (missing, null, blank,
    false or 0)."""
    from sqlalchemy import or_

    text = field_text(name)
    return or_(text.is_(None), text.regexp_match(BLANK), and_(field_type(name) == "boolean", text == "false"),
               field_number(name) == 0)


def missing_fields(session: Session, required: tuple[str, ...], limit: int = MAX_ROWS) -> list[dict[str, Any]]:
    """People missing any of the `Object.Field` pairs forms and automations need (found in SQL)."""
    from sqlalchemy import or_

    wanted: dict[str, list[str]] = {}
    for pair in required:
        object_name, _, field_name = pair.partition(".")
        if object_name in read.person_objects() and field_name:
            wanted.setdefault(object_name, []).append(field_name)
    out: list[dict[str, Any]] = []
    model = read.person_model()
    for object_name, names in wanted.items():
        person = model.get(object_name)
        name_fields = person.last_first if person else ("LastName", "FirstName")
        stmt = (select(Mirror.sf_id, Mirror.fields)
                .where(read.person_clause(Mirror, [object_name]), Mirror.is_deleted.is_(False),
                       or_(*(_missing(n) for n in names)))
                .order_by(Mirror.sf_id).limit(limit - len(out)))
        for sf_id, fields in session.execute(stmt):
            missing = [n for n in names if not str(fields.get(n) or "").strip()]
            if missing:
                out.append({"id": sf_id, "object": object_name, "missing": missing,
                            "name": " ".join(str(fields.get(n) or "") for n in name_fields).strip()})
        if len(out) >= limit:
            return out[:limit]
    return out
