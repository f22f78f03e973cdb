"""The person model: which Salesforce objects are people, and which of their fields mean what.

Set by `PERSON_MODEL` (JSON, or the path of a .json/.yaml file); the default is the demo co-op's
org — Leads and Contacts with the furigana fields `LastNameKana__c`/`FirstNameKana__c`, opt-out
`HasOptedOutOfEmail`, conversion `IsConverted` and the member number in `FORMS_MEMBER_NUMBER_FIELD`.
Each object listed takes the defaults of its name, overridden key by key:

    {"Lead": {}, "Account": {"kana": ["Kana_Last__c", "Kana_First__c"], "member_number": "Member_No__c"}}

makes Leads and Person Accounts the people (Contacts are not). Keys per object (docs/configuration.md):
`email`, `phone` (first non-empty wins), `name` and `kana` ([last, first]), `company`, `opted_out`,
`member_number`, `converted` and `conversion` ({contact, account, opportunity} fields of a converted
Lead), `person_flag` (an Account is a person only when this checkbox is true: IsPersonAccount) and
`person_contact` (PersonContactId: the Contact id activities and campaign members of a Person
Account carry).

Packages read it through `sync.read` (the mirror read API), never from constants; the settings carry it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

_API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)?$")
# Salesforce's fixed key prefixes of the objects that can be people.
PREFIXES = {"Lead": "00Q", "Contact": "003", "Account": "001"}


@dataclass(frozen=True)
class PersonObject:
    """One object whose records are people, and the fields that hold what tsunagi needs of a person."""

    name: str
    email: tuple[str, ...] = ()
    phone: tuple[str, ...] = ()
    last_first: tuple[str, ...] = ()
    kana: tuple[str, ...] = ()
    company: tuple[str, ...] = ()
    opted_out: str | None = None
    member_number: str | None = None
    converted: str | None = None
    conversion: dict[str, str] = field(default_factory=dict, hash=False)
    person_flag: str | None = None
    person_contact: str | None = None

    @property
    def prefix(self) -> str:
        """The key prefix of this object's ids (00Q, 003, 001)."""
        return PREFIXES[self.name]

    def is_person(self, fields: dict[str, Any]) -> bool:
        """True when a record with these fields is a person (a business Account is not)."""
        return self.person_flag is None or fields.get(self.person_flag) is True

    def first(self, names: tuple[str, ...], fields: dict[str, Any]) -> str | None:
        """The first non-empty value of `names` in `fields`, as text."""
        for name in names:
            value = fields.get(name)
            if value not in (None, ""):
                return str(value)
        return None

    def fields_used(self) -> list[str]:
        """Every field this object's model names (checked against describe at start-up)."""
        names = [*self.email, *self.phone, *self.last_first, *self.kana, *self.company,
                 *(f for f in (self.opted_out, self.member_number, self.converted, self.person_flag,
                               self.person_contact) if f), *self.conversion.values()]
        return list(dict.fromkeys(n for n in names if "." not in n))  # parent paths (Account.Name) excepted


_DEFAULTS: dict[str, PersonObject] = {
    "Lead": PersonObject(
        "Lead", email=("Email",), phone=("Phone", "MobilePhone"), last_first=("LastName", "FirstName"),
        kana=("LastNameKana__c", "FirstNameKana__c"), company=("Company",), opted_out="HasOptedOutOfEmail",
        converted="IsConverted", conversion={"contact": "ConvertedContactId", "account": "ConvertedAccountId",
                                             "opportunity": "ConvertedOpportunityId"}),
    "Contact": PersonObject(
        "Contact", email=("Email",), phone=("Phone", "MobilePhone", "HomePhone"),
        last_first=("LastName", "FirstName"), kana=("LastNameKana__c", "FirstNameKana__c"),
        company=("Account.Name",), opted_out="HasOptedOutOfEmail", member_number="Tsunagi_Key__c"),
    "Account": PersonObject(
        "Account", email=("PersonEmail",), phone=("PersonMobilePhone", "Phone", "PersonHomePhone"),
        last_first=("LastName", "FirstName"), kana=("LastNameKana__pc", "FirstNameKana__pc"),
        opted_out="PersonHasOptedOutOfEmail", person_flag="IsPersonAccount", person_contact="PersonContactId"),
}
_KEYS = {"email", "phone", "name", "kana", "company", "opted_out", "member_number", "converted", "conversion",
         "person_flag", "person_contact"}


@dataclass(frozen=True)
class PersonModel:
    """The objects that are people, in the order given, each with its fields."""

    objects: tuple[PersonObject, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the person objects (e.g. ("Lead", "Contact"))."""
        return tuple(o.name for o in self.objects)

    def get(self, object_name: str | None) -> PersonObject | None:
        """The model of `object_name`, or None when its records are not people."""
        return next((o for o in self.objects if o.name == object_name), None)

    def object_of_id(self, record_id: str | None) -> PersonObject | None:
        """The person object whose key prefix starts `record_id` (None for other ids)."""
        prefix = (record_id or "")[:3]
        return next((o for o in self.objects if o.prefix == prefix), None)

    @property
    def prefixes(self) -> tuple[str, ...]:
        """Key prefixes of the person objects."""
        return tuple(o.prefix for o in self.objects)


def default_model(member_number_field: str = "Tsunagi_Key__c") -> PersonModel:
    """Leads and Contacts as the demo org has them (today's behaviour)."""
    contact = replace(_DEFAULTS["Contact"], member_number=member_number_field or None)
    return PersonModel((_DEFAULTS["Lead"], contact))


def _names(where: str, value: Any, count: int | None = None) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and _API_NAME.match(v) for v in value):
        raise ValueError(f"{where} must be a list of Salesforce field names")
    if count is not None and len(value) not in (0, count):
        raise ValueError(f"{where} must name {count} fields ([last, first])")
    return tuple(value)


def _name(where: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _API_NAME.match(value):
        raise ValueError(f"{where} must be a Salesforce field name")
    return value


def parse_model(raw: str, member_number_field: str = "Tsunagi_Key__c") -> PersonModel:
    """A PersonModel from PERSON_MODEL's text (JSON, or a .json/.yaml file's path); ValueError if bad."""
    text = raw.strip()
    if not text:
        return default_model(member_number_field)
    if not text.startswith("{"):
        path = Path(text)
        if not path.is_file():
            raise ValueError(f"file {text!r} does not exist (give JSON or a .json/.yaml file)")
        text = path.read_text(encoding="utf-8")
    try:
        if raw.strip().endswith((".yaml", ".yml")):
            import yaml

            doc = yaml.safe_load(text)
        else:
            doc = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"is not valid JSON/YAML ({exc})") from None
    if not isinstance(doc, dict) or not doc:
        raise ValueError('must map person objects to their fields, e.g. {"Lead": {}, "Contact": {}}')
    objects = []
    for name, spec in doc.items():
        if name not in _DEFAULTS:
            raise ValueError(f"{name!r} cannot be a person object (Lead, Contact or Account)")
        spec = spec or {}
        if not isinstance(spec, dict):
            raise ValueError(f"{name} must map keys ({', '.join(sorted(_KEYS))}) to fields")
        unknown = set(spec) - _KEYS
        if unknown:
            raise ValueError(f"{name}: unknown key(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(_KEYS))})")
        base = _DEFAULTS[name]
        if name == "Contact":
            base = replace(base, member_number=member_number_field or None)
        changes: dict[str, Any] = {}
        for key in ("email", "phone", "company"):
            if key in spec:
                changes[key] = _names(f"{name}.{key}", spec[key])
        if "name" in spec:
            changes["last_first"] = _names(f"{name}.name", spec["name"], 2)
        if "kana" in spec:
            changes["kana"] = _names(f"{name}.kana", spec["kana"], 2)
        for key in ("opted_out", "member_number", "converted", "person_flag", "person_contact"):
            if key in spec:
                changes[key] = _name(f"{name}.{key}", spec[key])
        if "conversion" in spec:
            conversion = spec["conversion"] or {}
            if not isinstance(conversion, dict) or set(conversion) - {"contact", "account", "opportunity"}:
                raise ValueError(f"{name}.conversion must map contact/account/opportunity to fields")
            changes["conversion"] = {k: _name(f"{name}.conversion.{k}", v) for k, v in conversion.items() if v}
        obj = replace(base, **changes)
        if name == "Account" and not obj.person_flag:
            raise ValueError("Account.person_flag is required (IsPersonAccount): business accounts are not people")
        objects.append(obj)
    return PersonModel(tuple(objects))
