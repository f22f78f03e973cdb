"""Normalized lookup keys, so that differently written values of one person compare equal.

Used by sync (kept current on every upsert), forms (lookup and dedupe) and the duplicates report.
Every function returns None for values that carry no usable key.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import jaconv
import phonenumbers

from config.person_model import PersonModel

# Legal-entity words folded out of company names: 株式会社ABC, (株)ABC and ㈱ABC are one company.
_LEGAL_ENTITY = re.compile(
    r"株式会社|有限会社|合同会社|合名会社|合資会社|一般社団法人|一般財団法人|公益社団法人|公益財団法人"
    r"|特定非営利活動法人|npo法人|生活協同組合|協同組合|\(株\)|\(有\)|\(同\)|co\.,?\s*ltd\.?|inc\.?|corp\.?"
    r"|corporation|company|limited|ltd\.?|llc"
)
_SPACES = re.compile(r"[\s\u3000・･\-‐－ー―]+")
_KANA_SPACES = re.compile(r"[\s\u3000・･]+")


def nfkc(value: Any) -> str:
    """NFKC-normalized text with surrounding space removed ('' for None): full-width → half-width."""
    if value is None:
        return ""
    return unicodedata.normalize("NFKC", str(value)).strip()


def email_key(value: Any) -> str | None:
    """Lower-cased, NFKC-normalized email address, or None when it has no '@'."""
    text = nfkc(value).lower()
    return text if "@" in text and len(text) <= 254 else None


def phone_key(value: Any, region: str = "JP") -> str | None:
    """The number in E.164 (+819012345678), or None when it is not a valid phone number."""
    text = nfkc(value)
    if not text:
        return None
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def name_key(*parts: Any) -> str | None:
    """Family and given name joined without spaces, NFKC-normalized and lower-cased."""
    text = "".join(nfkc(p) for p in parts if p)
    text = _KANA_SPACES.sub("", text).lower()
    return text or None


def kana_key(*parts: Any) -> str | None:
    """Furigana as full-width katakana without spaces (ﾔﾏﾀﾞ, やまだ and ヤマダ are one key)."""
    text = "".join(nfkc(p) for p in parts if p)
    text = jaconv.hira2kata(_KANA_SPACES.sub("", text))
    return text or None


def company_key(value: Any) -> str | None:
    """Company name with legal-entity words, spaces and punctuation folded out, lower-cased."""
    text = nfkc(value).lower().replace("㈱", "(株)").replace("㈲", "(有)")
    text = _LEGAL_ENTITY.sub("", text)
    text = _SPACES.sub("", text).strip(".,")
    return text or None


def reversed_phone_key(phone: str | None) -> str | None:
    """The digits of an E.164 key in reverse (+81364963255 → 55236946318), or None.

    A suffix search ("the last eight digits") becomes a prefix search on this key, so an index serves it.
    """
    digits = re.sub(r"\D", "", phone or "")
    return digits[::-1] or None


def reversed_local_key(email: str | None) -> str | None:
    """The local part of an email key in reverse (sato.jiro@x.jp → orij.otas), or None.

    Typing the end of a local part ("jiro@") becomes a prefix search on this key, so an index serves it.
    """
    local = (email or "").partition("@")[0]
    return local[::-1] or None


def member_key(value: Any) -> str | None:
    """A member number NFKC-normalized and lower-cased (ＭＥＭＢＥＲ-０００１ → member-0001), or None."""
    text = nfkc(value).lower()
    return text[:80] or None


# Keys of objects that are not people (a business Account, a User); people's keys follow the person
# model (PERSON_MODEL, config/person_model.py), which the settings carry to `record_keys`.
KEY_FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    "Account": {"phone": ("Phone",), "name": ("Name",), "company": ("Name",)},
    "User": {"email": ("Email",), "name": ("LastName", "FirstName")},
}


def key_fields(object_name: str, people: PersonModel) -> dict[str, tuple[str, ...]]:
    """Which fields feed which key for `object_name` ("member" too when it has a member number).

    A person object's come from the person model; an Account that is a person uses its person
    fields, so both sets feed an Account's keys (which applies is decided per record).
    """
    spec = dict(KEY_FIELDS.get(object_name, {}))
    obj = people.get(object_name)
    if obj is None:
        return spec
    person = {"email": obj.email, "phone": obj.phone, "name": obj.last_first, "kana": obj.kana,
              "company": obj.company, "member": (obj.member_number,) if obj.member_number else ()}
    if obj.person_flag:
        return {k: tuple(dict.fromkeys((*spec.get(k, ()), *v, obj.person_flag))) for k, v in person.items()}
    return person


def _spec_of(object_name: str, fields: dict[str, Any], people: PersonModel) -> dict[str, tuple[str, ...]]:
    obj = people.get(object_name)
    if obj is None or not obj.is_person(fields):
        return KEY_FIELDS.get(object_name, {})
    return {"email": obj.email, "phone": obj.phone, "name": obj.last_first, "kana": obj.kana,
            "company": obj.company, "member": (obj.member_number,) if obj.member_number else ()}


def record_keys(object_name: str, fields: dict[str, Any], people: PersonModel) -> dict[str, str | None]:
    """All lookup keys of a record from its field values (missing fields give None keys).

    `people` is the person model (settings.person_model): which fields of a person hold its email,
    phone, names, kana and member number.
    """
    spec = _spec_of(object_name, fields, people)

    def first(names: tuple[str, ...], fn: Any) -> str | None:
        for name in names:
            key = fn(fields.get(name))
            if key:
                return key
        return None

    email = first(spec.get("email", ()), email_key)
    phone = first(spec.get("phone", ()), phone_key)
    return {
        "email_key": email,
        "phone_key": phone,
        "name_key": name_key(*(fields.get(n) for n in spec.get("name", ()))) if spec.get("name") else None,
        "kana_key": kana_key(*(fields.get(n) for n in spec.get("kana", ()))) if spec.get("kana") else None,
        "company_key": first(spec.get("company", ()), company_key),
        "member_key": first(spec.get("member", ()), member_key),
        "phone_rev_key": reversed_phone_key(phone),
        "email_local_rev_key": reversed_local_key(email),
    }
