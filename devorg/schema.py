"""The dev org's schema: standard objects (objects.yaml) plus the org definition's custom fields.

`Schema.load(custom_fields, custom_objects, person_accounts)` builds `ObjectDef`s with their
`FieldDef`s, system fields included.
Values live in memory as Python types (str, bool, int, float, date, aware UTC datetime); `coerce`
turns JSON input into them with Salesforce's errors, `to_json` renders them as the REST API does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib import resources
from typing import Any

import yaml

from devorg import ids
from devorg.errors import ApiError

STRING_TYPES = {"id", "string", "textarea", "email", "phone", "url", "picklist", "reference"}
NUMBER_TYPES = {"double", "currency", "int", "percent"}
_SOAP_TYPES = {
    "id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "int": "xsd:int", "double": "xsd:double",
    "currency": "xsd:double", "percent": "xsd:double", "date": "xsd:date", "datetime": "xsd:dateTime",
}
_EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")


@dataclass
class PicklistValue:
    """One picklist entry with its Japanese and English labels."""

    value: str
    label_ja: str
    label_en: str


@dataclass
class FieldDef:
    """One field of an sObject, as describe reports it."""

    name: str
    type: str
    label_ja: str
    label_en: str
    length: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    default: Any = None
    picklist: list[PicklistValue] = field(default_factory=list)
    restricted: bool = False
    reference_to: list[str] = field(default_factory=list)
    relationship_name: str | None = None
    unique: bool = False
    external_id: bool = False
    custom: bool = False
    precision: int = 0
    scale: int = 0
    compound: bool = False

    @property
    def required(self) -> bool:
        """Required on create: not nillable, createable and with no default."""
        return not self.nillable and self.createable and self.default is None

    def label(self, language: str) -> str:
        """The field label in `language` ("ja" or "en")."""
        return self.label_en if language == "en" else self.label_ja


@dataclass
class ObjectDef:
    """One sObject type: key prefix, labels, fields by name (and by lower-case name)."""

    name: str
    prefix: str
    fields: dict[str, FieldDef]
    label_ja: str
    label_en: str
    plural_ja: str
    plural_en: str
    by_lower: dict[str, FieldDef] = field(default_factory=dict)
    relationships: dict[str, FieldDef] = field(default_factory=dict)
    # Opportunity's sales process: stage value -> {closed, won, probability, forecast}.
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_lower = {name.lower(): f for name, f in self.fields.items()}
        self.relationships = {f.relationship_name.lower(): f for f in self.fields.values() if f.relationship_name}

    def field(self, name: str) -> FieldDef | None:
        """The field named `name` (case-insensitive), or None."""
        return self.by_lower.get(name.lower())

    def label(self, language: str, plural: bool = False) -> str:
        """The object label in `language`."""
        if language == "en":
            return self.plural_en if plural else self.label_en
        return self.plural_ja if plural else self.label_ja


def _field_from_spec(name: str, spec: dict[str, Any], custom: bool) -> FieldDef:
    labels = spec.get("label") or [name, name]
    values = []
    for raw in spec.get("values", []):
        if isinstance(raw, list):
            values.append(PicklistValue(str(raw[0]), str(raw[1]), str(raw[2] if len(raw) > 2 else raw[1])))
        else:
            values.append(PicklistValue(str(raw), str(raw), str(raw)))
    ftype = spec["type"]
    readonly = bool(spec.get("readonly"))
    length = int(spec.get("length", 0))
    if ftype in ("picklist",) and not length:
        length = 255
    if ftype in ("id", "reference"):
        length = 18
    default = spec.get("default")
    if ftype == "boolean" and default is None:
        default = False  # checkboxes are never null in Salesforce
    return FieldDef(
        name=name, type=ftype, label_ja=str(labels[0]), label_en=str(labels[1]), length=length,
        nillable=not spec.get("required") and ftype != "boolean",
        createable=not readonly, updateable=not readonly and not spec.get("createonly"),
        default=default, picklist=values, restricted=bool(spec.get("restricted")),
        reference_to=list(spec.get("ref", [])), relationship_name=spec.get("rel"),
        unique=bool(spec.get("unique")), external_id=bool(spec.get("external_id")), custom=custom,
        precision=int(spec.get("precision", 18 if ftype in NUMBER_TYPES else 0)),
        scale=int(spec.get("scale", 0)), compound=bool(spec.get("compound")),
    )


def _system_fields(owned: bool) -> dict[str, FieldDef]:
    def ro(name: str, ftype: str, ja: str, en: str, **kw: Any) -> FieldDef:
        return FieldDef(name=name, type=ftype, label_ja=ja, label_en=en, nillable=False,
                        createable=False, updateable=False, **kw)

    fields = {
        "Id": ro("Id", "id", "ID", "Record ID", length=18),
        "IsDeleted": ro("IsDeleted", "boolean", "削除", "Deleted", default=False),
        "CreatedDate": ro("CreatedDate", "datetime", "作成日", "Created Date"),
        "CreatedById": ro("CreatedById", "reference", "作成者 ID", "Created By ID", length=18,
                          reference_to=["User"], relationship_name="CreatedBy"),
        "LastModifiedDate": ro("LastModifiedDate", "datetime", "最終更新日", "Last Modified Date"),
        "LastModifiedById": ro("LastModifiedById", "reference", "最終更新者 ID", "Last Modified By ID", length=18,
                               reference_to=["User"], relationship_name="LastModifiedBy"),
        "SystemModstamp": ro("SystemModstamp", "datetime", "System Modstamp", "System Modstamp"),
    }
    if owned:
        fields["OwnerId"] = FieldDef(name="OwnerId", type="reference", label_ja="所有者 ID", label_en="Owner ID",
                                     length=18, nillable=False, reference_to=["User"], relationship_name="Owner",
                                     default="$user")
    return fields


@dataclass
class Schema:
    """Every object the org serves, by name and by key prefix."""

    objects: dict[str, ObjectDef]
    by_lower: dict[str, ObjectDef] = field(default_factory=dict)
    by_prefix: dict[str, ObjectDef] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_lower = {name.lower(): o for name, o in self.objects.items()}
        self.by_prefix = {o.prefix: o for o in self.objects.values()}

    person_accounts: bool = False

    @classmethod
    def load(cls, custom_fields: dict[str, dict[str, Any]] | None = None,
             custom_objects: dict[str, dict[str, Any]] | None = None, person_accounts: bool = False) -> Schema:
        """Standard objects from objects.yaml, the Person Account fields when `person_accounts`,
        `custom_objects` {Name__c: spec} and `custom_fields` {object: {name: spec}}.

        Definitions from files are checked first by devorg.definition.load_definition.
        """
        text = resources.files("devorg").joinpath("objects.yaml").read_text(encoding="utf-8")
        standard = yaml.safe_load(text)
        extra: dict[str, Any] = {}
        if person_accounts:
            extra = yaml.safe_load(resources.files("devorg").joinpath("person_accounts.yaml")
                                   .read_text(encoding="utf-8"))
        objects: dict[str, ObjectDef] = {}
        for name, spec in {**standard, **(custom_objects or {})}.items():
            labels = spec["label"]
            fields = _system_fields(bool(spec.get("owned")))
            for fname, fspec in spec["fields"].items():
                fields[fname] = _field_from_spec(fname, fspec, custom=name not in standard)
            for fname, fspec in extra.get(name, {}).items():
                fields[fname] = _field_from_spec(fname, fspec, custom=False)
            for fname, fspec in (custom_fields or {}).get(name, {}).items():
                if not fname.endswith("__c"):
                    raise ValueError(f"custom field {name}.{fname} must end in __c")
                fields[fname] = _field_from_spec(fname, fspec, custom=True)
            objects[name] = ObjectDef(name, str(spec["prefix"]), fields, labels[0], labels[1], labels[2], labels[3],
                                      stages=dict(spec.get("stages") or {}))
        unknown = set(custom_fields or {}) - set(objects)
        if unknown:
            raise ValueError(f"custom fields on unknown objects: {sorted(unknown)}")
        return cls(objects, person_accounts=person_accounts)

    def get(self, name: str) -> ObjectDef | None:
        """The object named `name` (case-insensitive), or None."""
        return self.by_lower.get(name.lower())

    def object_of_id(self, record_id: str) -> ObjectDef | None:
        """The object whose key prefix starts `record_id`, or None."""
        return self.by_prefix.get(record_id[:3])


def format_datetime(value: datetime) -> str:
    """`2026-11-20T10:00:00.000+0000`, the REST API's datetime form."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def to_json(value: Any) -> Any:
    """A stored value as the REST API renders it."""
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def parse_datetime(text: str) -> datetime:
    """An ISO 8601 datetime (Z, +0000 or +00:00; no zone means UTC) as aware UTC in whole seconds.

    Salesforce drops the milliseconds of a datetime it stores (see store.now_stamp).
    """
    value = datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).replace(microsecond=0)


def from_json(fdef: FieldDef, value: Any) -> Any:
    """Inverse of `to_json` for stored (already valid) values."""
    if value is None:
        return None
    if fdef.type == "datetime":
        return parse_datetime(value)
    if fdef.type == "date":
        return date.fromisoformat(value)
    return value


def _bad(fdef: FieldDef, value: Any, kind: str) -> ApiError:
    return ApiError(400, "JSON_PARSER_ERROR",
                    f"Cannot deserialize instance of {kind} from value {value!r} for field {fdef.name}")


def coerce(obj: ObjectDef, fdef: FieldDef, value: Any) -> Any:
    """A JSON input value for `fdef` as a stored value; raise ApiError as Salesforce would."""
    if value is None or (value == "" and fdef.type != "boolean"):
        return None
    ftype = fdef.type
    if ftype == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _bad(fdef, value, "boolean")
    if ftype in NUMBER_TYPES:
        if isinstance(value, bool):
            raise _bad(fdef, value, "double")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise _bad(fdef, value, "double") from None
        return int(number) if ftype == "int" or (fdef.scale == 0 and number.is_integer()) else number
    if ftype == "date":
        try:
            return date.fromisoformat(str(value)[:10])
        except ValueError:
            raise _bad(fdef, value, "date") from None
    if ftype == "datetime":
        try:
            return parse_datetime(str(value))
        except ValueError:
            raise _bad(fdef, value, "datetime") from None
    if not isinstance(value, str):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        else:
            raise _bad(fdef, value, "String")
    if ftype == "reference":
        normalized = ids.normalize(value)
        if normalized is None:
            raise ApiError(400, "MALFORMED_ID", f"{fdef.label_en}: id value of incorrect type: {value}", [fdef.name])
        return normalized
    if fdef.length and len(value) > fdef.length:
        raise ApiError(400, "STRING_TOO_LONG",
                       f"{fdef.label_en}: data value too large: {value[:40]} (max length={fdef.length})", [fdef.name])
    if ftype == "email" and not _EMAIL_RE.match(value):
        raise ApiError(400, "INVALID_EMAIL_ADDRESS", f"{fdef.label_en}: invalid email address: {value}", [fdef.name])
    if ftype == "picklist" and fdef.restricted and value not in {p.value for p in fdef.picklist}:
        raise ApiError(400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                       f"{fdef.label_en}: bad value for restricted picklist field: {value}", [fdef.name])
    return value


def describe_field(fdef: FieldDef, language: str) -> dict[str, Any]:
    """One entry of describe's `fields` list."""
    ftype = fdef.type
    return {
        "name": fdef.name, "label": fdef.label(language), "type": ftype,
        "length": fdef.length if ftype in STRING_TYPES else 0,
        "byteLength": fdef.length * 3 if ftype in STRING_TYPES else 0,
        "precision": fdef.precision if ftype in NUMBER_TYPES - {"int"} else 0,
        "scale": fdef.scale if ftype in NUMBER_TYPES - {"int"} else 0,
        "digits": 9 if ftype == "int" else 0,
        "nillable": fdef.nillable, "createable": fdef.createable, "updateable": fdef.updateable,
        "defaultedOnCreate": fdef.default is not None or fdef.name in ("OwnerId",),
        "defaultValue": fdef.default if fdef.default not in (None, "$user") else None,
        "unique": fdef.unique, "externalId": fdef.external_id, "idLookup": fdef.name == "Id" or fdef.external_id,
        "custom": fdef.custom, "calculated": fdef.compound, "nameField": fdef.name == "Name",
        "filterable": ftype != "textarea" or fdef.length <= 255, "sortable": ftype != "textarea" or fdef.length <= 255,
        "restrictedPicklist": fdef.restricted, "dependentPicklist": False,
        "picklistValues": [
            {"value": p.value, "label": p.label_en if language == "en" else p.label_ja, "active": True,
             "defaultValue": p.value == fdef.default, "validFor": None}
            for p in fdef.picklist
        ],
        "referenceTo": fdef.reference_to, "relationshipName": fdef.relationship_name,
        "polymorphicForeignKey": len(fdef.reference_to) > 1,
        "soapType": _SOAP_TYPES.get(ftype, "xsd:string"),
    }
