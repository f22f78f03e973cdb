"""Find a customer in the mirror as an operator or field rep types (no Salesforce call).

What was typed decides the keys: an '@' → mail address prefix, or the end of the local part
("jiro@" finds sato.jiro@…); mostly digits → phone number prefix (national digits become the E.164
prefix the mirror keeps: 0901 → +81901) or phone suffix ("6496-3255"); kana only → furigana
prefix; anything else → name prefix or member number prefix (FORMS_MEMBER_NUMBER_FIELD). Suffixes
are searched as prefixes of reversed keys. Every search is a few indexed prefix scans with a small
LIMIT, so it stays fast on millions of rows on SQLite and PostgreSQL alike.

After the prefix matches come infix matches: 4+ digits anywhere in a phone number ("6496" of
03-6496-3255; not when typed with a leading 0 or +, which is a number's start), 3+ characters
anywhere in a mail address ("ato.ji" of sato.jiro@…). On PostgreSQL
a pg_trgm GIN index serves them (migration forms_0002, docs/forms.md); on SQLite they scan, bounded
by the LIMIT.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from forms import queries
from sync import keys, read
from sync.read import Mirror

_DIGITS_ONLY = re.compile(r"^[\d\s\-()+]+$")
_KANA_ONLY = re.compile(r"^[\u3040-\u30ff\s]+$")
# Fields shown in a result row and offered for prefill (with the person model's name, kana, email
# and phone fields of the record's object).
SUMMARY_FIELDS = ("LastName", "FirstName", "Email", "Phone", "MobilePhone", "PostalCode", "State", "City", "Street",
                  "MailingPostalCode", "MailingState", "MailingCity", "MailingStreet", "Company",
                  "PersonMailingPostalCode", "PersonMailingState", "PersonMailingCity", "PersonMailingStreet")


def is_kana(text: str) -> bool:
    """True when `text` is hiragana/katakana only (a furigana search)."""
    return bool(_KANA_ONLY.match(text))


def phone_prefix(typed: str) -> str | None:
    """The E.164 prefix of a partly typed phone number (at least 3 digits), or None."""
    digits = re.sub(r"\D", "", keys.nfkc(typed))
    if len(digits) < 3:
        return None
    if keys.nfkc(typed).startswith("+"):
        return "+" + digits
    if digits.startswith("81") and len(digits) > 10:
        return "+" + digits
    # Japanese national numbers drop their trunk 0 in E.164: 090… → +8190…
    return "+81" + digits.removeprefix("0")


# A phone suffix is searched from this many digits on: fewer match too many people to be useful.
_MIN_SUFFIX_DIGITS = 4


def classify(typed: str) -> tuple[str, str] | None:
    """(key column, prefix) to search for what was typed, or None when too short to search."""
    found = searches(typed)
    return found[0] if found else None


def searches(typed: str) -> list[tuple[str, str]]:
    """Every (key column, prefix) to search for what was typed, best first ([] when too short)."""
    text = keys.nfkc(typed)
    if len(text) < 2:
        return []
    if "@" in text:
        lowered = text.lower()
        local = lowered.partition("@")[0]
        return [("email_key", lowered)] + ([("email_local_rev_key", local[::-1])] if local else [])
    if _DIGITS_ONLY.match(text):
        found = []
        prefix = phone_prefix(text)
        if prefix:
            found.append(("phone_key", prefix))
        digits = re.sub(r"\D", "", text)
        if len(digits) >= _MIN_SUFFIX_DIGITS:
            found.append(("phone_rev_key", digits[::-1]))
        return found
    if _KANA_ONLY.match(text):
        kana = keys.kana_key(text)
        return [("kana_key", kana)] if kana else []
    name = keys.name_key(text)
    member = keys.member_key(text)
    return [*([("name_key", name)] if name else []), *([("member_key", member)] if member else [])]


# A mail address fragment: what the local part and domain are made of (no spaces, no kana).
_EMAIL_FRAGMENT = re.compile(r"^[a-z0-9._%+\-@]+$")
_MIN_EMAIL_FRAGMENT = 3  # pg_trgm needs one whole trigram to use its index


def infix_searches(typed: str) -> list[tuple[str, str]]:
    """(key column, fragment) to search anywhere in phone numbers and mail addresses ([] when none)."""
    text = keys.nfkc(typed).lower()
    if _DIGITS_ONLY.match(text):
        digits = re.sub(r"\D", "", text)
        # A leading 0 or + is the start of a number (the prefix search has it): the E.164 key
        # holds no trunk 0, so as an infix it would only make the index read every "090…" number.
        if text.startswith(("0", "+")) or len(digits) < _MIN_SUFFIX_DIGITS:
            return []
        return [("phone_key", digits)]
    if len(text) >= _MIN_EMAIL_FRAGMENT and _EMAIL_FRAGMENT.match(text):
        return [("email_key", text)]
    return []


def _matches(record: Mirror, column: str, typed: str) -> bool:
    """Whether a record found by a reversed key also matches the rest of what was typed.

    "jiro@ex" searched by the reversed local part must still have a domain starting with "ex".
    """
    if column != "email_local_rev_key":
        return True
    domain = keys.nfkc(typed).lower().partition("@")[2]
    return (record.email_key or "").partition("@")[2].startswith(domain)


# How a person's kind reads to an operator (Salesforce's own Japanese labels).
TYPE_LABELS = {"Lead": "リード", "Contact": "取引先責任者", "Account": "個人取引先"}


def address_of(fields: dict[str, Any]) -> str:
    """A Lead's or Contact's address on one line (〒, prefecture, city, street), or ""."""
    prefix = next((p for p in ("Mailing", "PersonMailing") if fields.get(f"{p}City") or fields.get(f"{p}Street")), "")
    postal = fields.get(f"{prefix}PostalCode") or ""
    rest = "".join(str(fields.get(f"{prefix}{part}") or "") for part in ("State", "City", "Street"))
    return (f"〒{postal} " if postal else "") + rest


def summarize(record: Mirror) -> dict[str, Any]:
    """What a lookup result shows and prefills: Id, kind, display name, address and known fields.

    Two customers of the same name are told apart by address and kind (リード / 取引先責任者).
    """
    fields = record.fields or {}
    person = read.person_model().get(record.object_name)
    member_field = person.member_number if person else None
    name_fields = person.last_first if person else ("LastName", "FirstName")
    kana_fields = person.kana if person else ()
    name = " ".join(str(fields.get(n) or "") for n in name_fields).strip()
    kana = " ".join(str(fields.get(n) or "") for n in kana_fields).strip()
    shown = (*SUMMARY_FIELDS, *name_fields, *kana_fields, *(person.email + person.phone if person else ()))
    return {
        "id": record.sf_id,
        "object": record.object_name,
        "type": TYPE_LABELS.get(record.object_name, record.object_name),
        "name": name or str(fields.get("Name") or ""),
        "kana": kana,
        "email": read.person_email(record.object_name, fields) or "",
        "phone": read.person_phone(record.object_name, fields) or "",
        "address": address_of(fields),
        "member_number": str(fields.get(member_field) or "") if member_field and record.member_key else "",
        "fields": {n: fields[n] for n in dict.fromkeys(shown) if fields.get(n) not in (None, "")},
    }


def possible_duplicates(session: Session, values: dict[str, Any], limit: int = 5) -> list[dict[str, Any]]:
    """Leads/Contacts already in the mirror with the phone number or mail address just typed.

    Shown before a new record is created, so an operator does not make a second record of a
    caller who is already a customer (the same indexed keys as the look-up).
    """
    found: dict[str, dict[str, Any]] = {}
    for name in ("Phone", "MobilePhone", "Email"):
        value = str(values.get(name) or "")
        if len(value) >= 6:
            for row in search_people(session, value, limit=limit):
                found.setdefault(row["id"], row)
    return list(found.values())[:limit]


def _by_key(column: str) -> Callable[[Mirror], tuple[str, str]]:
    """Sort key of records found by `column`: that key, then the Id."""
    return lambda record: (getattr(record, column) or "", record.sf_id)


def search_people(session: Session, typed: str, limit: int = 10,
                  objects: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """Up to `limit` Leads/Contacts whose email, phone, name, kana or member number matches what was typed.

    Prefix matches come first, then suffix matches (phone end, email local-part end), then infix
    matches (digits in the middle of a phone number, part of a mail address).
    """
    dialect = session.get_bind().dialect.name
    objects = objects or read.person_objects()
    found: dict[str, Mirror] = {}
    plan = [(c, v, queries.people_by_key(c, v, objects, dialect, limit)) for c, v in searches(typed)]
    plan += [(c, v, queries.people_containing(c, v, objects, limit)) for c, v in infix_searches(typed)]
    for column, _value, statement in plan:
        if len(found) >= limit:
            break
        rows = session.scalars(statement)
        for record in sorted(rows, key=_by_key(column)):
            if _matches(record, column, typed):
                found.setdefault(record.sf_id, record)
    return [summarize(r) for r in list(found.values())[:limit]]


def get_person(session: Session, sf_id: str) -> Mirror | None:
    """A live person (Lead, Contact, Person Account…: the person model's) of the mirror by Id, else None."""
    record = session.scalar(queries.person(sf_id))
    return record if record is not None and read.person_of(record.object_name, record.fields or {}) else None
