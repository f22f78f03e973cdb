"""Form definitions as data: parse and check a YAML/JSON document into a `FormSpec`.

The document format is described in docs/forms.md ("Form YAML schema"). `parse_spec` never
raises on bad input from an admin: it returns every problem at once as `DocumentError.problems`
(config.validation), each naming the path (e.g. `sections[0].fields[2].type`) and what is wrong,
in Japanese.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

import yaml

from config.validation import Checker, DocumentError, Problem, at, is_int
from sync import read

AUDIENCES = ("operator", "sales", "public")
MODES = ("create", "update", "match_then_update_or_create")
MATCH_RULES = ("email", "phone", "name_kana")
FIELD_TYPES = ("text", "textarea", "email", "phone", "postal_code", "kana", "picklist", "radio",
               "checkbox", "date", "number")
ACTION_TYPES = ("create_task", "add_to_campaign", "start_automation", "confirmation_mail", "mail_consent")
# The person objects a form can create or update and look up come from the person model
# (PERSON_MODEL, read through sync.read): Lead and Contact by default, Account for Person Accounts.
# number (番地) and building (建物・部屋) are typed after the postal look-up and joined to the street.
ADDRESS_PARTS = ("prefecture", "city", "street", "number", "building")
_KEY = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
_SF_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")


@dataclass
class FieldSpec:
    """One input, mapped to one Salesforce field of the form's object."""

    name: str
    label: str
    type: str = "text"
    required: bool = False
    max_length: int | None = None
    help: str = ""
    placeholder: str = ""
    # Public forms: prefilled from the person a signed link names only when this is true (a public
    # page must never show internal fields such as a Description note to whoever holds the link).
    public_prefill: bool = False
    options: list[dict[str, str]] = field(default_factory=list)
    visible_if: dict[str, Any] | None = None
    address: dict[str, str] = field(default_factory=dict)
    # Take type, length, required and picklist values from the org's describe (refreshable).
    from_describe: bool = True
    # False: kept with the submission (and for visible_if) but never written to Salesforce.
    write: bool = True
    # `date` fields: the earliest / latest day allowed, in days from today (local time).
    min_days: int | None = None
    max_days: int | None = None


@dataclass
class SectionSpec:
    """A titled group of fields."""

    title: str
    fields: list[FieldSpec]
    help: str = ""


@dataclass
class ActionSpec:
    """Something done after a submission is accepted (in the same transaction)."""

    type: str
    subject: str = ""
    fields: dict[str, Any] = field(default_factory=dict)
    campaign_id: str = ""
    status: str = ""
    automation: str = ""
    template: str = ""
    field: str = ""  # mail_consent: the checkbox that says yes to marketing mail


@dataclass
class FormSpec:
    """A whole form definition."""

    key: str
    title: str
    audience: str
    object: str
    mode: str = "create"
    match: list[str] = field(default_factory=list)
    external_id_field: str | None = None
    person_field: str | None = None
    description: str = ""
    done_message: str = ""
    hidden: dict[str, Any] = field(default_factory=dict)
    # Hidden fields written only when the form creates the record (e.g. LeadSource, Company).
    create_only: list[str] = field(default_factory=list)
    defaults: dict[str, Any] = field(default_factory=dict)
    sections: list[SectionSpec] = field(default_factory=list)
    actions: list[ActionSpec] = field(default_factory=list)
    # Public forms only: opens only from a signed link (no link or a forged one: an error page).
    requires_link: bool = False
    # Public forms only: one submission per signed link (a second one shows the first back).
    once_per_link: bool = False
    # Public forms only: a required privacy-policy consent box (PRIVACY_POLICY_URL). None: on for a
    # public form that collects personal data (writes a Lead/Contact, or asks for a mail or phone).
    privacy_consent: bool | None = None

    @property
    def fields(self) -> list[FieldSpec]:
        """Every field of every section, in order."""
        return [f for s in self.sections for f in s.fields]

    def field(self, name: str) -> FieldSpec | None:
        """The field mapped to Salesforce field `name`, or None."""
        return next((f for f in self.fields if f.name == name), None)

    @property
    def is_person_form(self) -> bool:
        """True when the form writes a person itself (a Lead, Contact or Person Account: the person model's)."""
        return self.object in read.person_objects()

    @property
    def needs_privacy_consent(self) -> bool:
        """True when the public form asks for consent to the privacy policy before it is accepted."""
        if self.audience != "public":
            return False
        if self.privacy_consent is not None:
            return self.privacy_consent
        return self.is_person_form or any(f.type in ("email", "phone") for f in self.fields)

    def to_dict(self) -> dict[str, Any]:
        """A plain document (what is stored and exported), without empty optional keys."""
        doc = _prune(asdict(self))
        if self.privacy_consent is None:
            doc.pop("privacy_consent", None)
        for flag in ("requires_link", "once_per_link"):
            # Left out when off, so definitions stored before these keys existed stay unchanged.
            if not doc.get(flag):
                doc.pop(flag, None)
        return doc


# Flags left out of a stored document while off, so definitions stored before they existed stay unchanged.
_OFF_BY_DEFAULT = frozenset({"public_prefill"})


def _prune(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _prune(v) for k, v in value.items()
                if (v not in (None, "", [], {}) or k == "fields") and not (k in _OFF_BY_DEFAULT and v is False)}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def _sf_names(check: Checker, value: dict[str, Any], path: str) -> dict[str, Any]:
    """`value` (a mapping of Salesforce field names), with a problem for each key that is not one."""
    for name in value:
        if not isinstance(name, str) or not _SF_NAME.match(name):
            check.bad(f"{path}.{name}", "Salesforce の項目名（API 参照名）ではありません")
    return value


def _options(raw: Any, path: str, check: Checker) -> list[dict[str, str]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        check.bad(path, "選択肢はリストで指定してください")
        return []
    options = []
    for i, item in enumerate(raw):
        if isinstance(item, str | int):
            options.append({"value": str(item), "label": str(item)})
        elif isinstance(item, dict) and "value" in item:
            options.append({"value": str(item["value"]), "label": str(item.get("label", item["value"]))})
        else:
            check.bad(f"{path}[{i}]", "文字列、または value と label を指定してください")
    return options


def _visible_if(raw: Any, path: str, check: Checker) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or "field" not in raw or not ({"equals", "in", "not_empty"} & raw.keys()):
        check.bad(path, "field と、equals / in / not_empty のいずれかを指定してください")
        return None
    if "in" in raw and not isinstance(raw["in"], list):
        check.bad(f"{path}.in", "リストで指定してください")
    return dict(raw)


def _field(raw: Any, path: str, check: Checker) -> FieldSpec | None:
    if not isinstance(raw, dict):
        check.bad(path, "項目はマッピングで指定してください")
        return None
    name = check.text(raw, "name", path, required=True)
    if name and not _SF_NAME.match(name):
        check.bad(f"{path}.name", "Salesforce の項目名（API 参照名）ではありません")
    spec = FieldSpec(
        name=name,
        label=check.text(raw, "label", path) or name,
        type=check.choice(raw, "type", path, FIELD_TYPES, "text"),
        required=bool(raw.get("required", False)),
        help=check.text(raw, "help", path),
        placeholder=check.text(raw, "placeholder", path),
        options=_options(raw.get("options"), f"{path}.options", check),
        visible_if=_visible_if(raw.get("visible_if"), f"{path}.visible_if", check),
        address=_sf_names(check, check.mapping(raw, "address", path), at(path, "address")),
        from_describe=bool(raw.get("from_describe", True)),
        write=bool(raw.get("write", True)),
        public_prefill=bool(raw.get("public_prefill", False)),
    )
    if raw.get("max_length") is not None:
        spec.max_length = check.integer(raw, "max_length", path, minimum=1,
                                        message="正の整数で指定してください") or None
    for bound in ("min_days", "max_days"):
        if raw.get(bound) is None:
            continue
        if not is_int(raw[bound]):
            check.bad(at(path, bound), "整数（今日からの日数）で指定してください")
        elif check.ensure(spec.type == "date", at(path, bound), f"{bound} は type: date の項目にだけ指定できます"):
            setattr(spec, bound, raw[bound])
    if spec.min_days is not None and spec.max_days is not None and spec.min_days > spec.max_days:
        check.bad(f"{path}.max_days", "min_days 以上にしてください")
    for part in spec.address:
        if part not in ADDRESS_PARTS:
            check.bad(f"{path}.address.{part}", f"{' / '.join(ADDRESS_PARTS)} のいずれかです")
    if spec.address and spec.type != "postal_code":
        check.bad(f"{path}.address", "address は type: postal_code の項目にだけ指定できます")
    return spec


def _action(raw: Any, path: str, check: Checker) -> ActionSpec | None:
    if not isinstance(raw, dict):
        check.bad(path, "アクションはマッピングで指定してください")
        return None
    action = ActionSpec(
        type=check.choice(raw, "type", path, ACTION_TYPES, "create_task"),
        subject=check.text(raw, "subject", path),
        fields=_sf_names(check, check.mapping(raw, "fields", path), at(path, "fields")),
        campaign_id=check.text(raw, "campaign_id", path),
        status=check.text(raw, "status", path),
        automation=check.text(raw, "automation", path),
        template=check.text(raw, "template", path),
        field=check.text(raw, "field", path),
    )
    needs = {"create_task": "subject", "add_to_campaign": "campaign_id", "start_automation": "automation",
             "confirmation_mail": "template", "mail_consent": "field"}[action.type]
    if not getattr(action, needs):
        check.bad(f"{path}.{needs}", f"type: {action.type} には必須です")
    return action


def parse_spec(doc: Any) -> FormSpec:
    """Check a definition document (already loaded from YAML/JSON); raise DocumentError listing every problem."""
    check = Checker(trim=True)
    if not isinstance(doc, dict):
        raise DocumentError(["定義全体をマッピング（key: 値 の形）で書いてください"])
    key = check.text(doc, "key", "", required=True)
    if key and not _KEY.match(key):
        check.bad("key", "英小文字で始まる英小文字・数字・_ の 2〜64 文字にしてください")
    obj = check.text(doc, "object", "", required=True)
    if obj and not _SF_NAME.match(obj):
        check.bad("object", "Salesforce のオブジェクト名ではありません")
    spec = FormSpec(
        key=key, title=check.text(doc, "title", "", required=True),
        audience=check.choice(doc, "audience", "", AUDIENCES, "operator"), object=obj,
        mode=check.choice(doc, "mode", "", MODES, "create"),
        description=check.text(doc, "description", ""), done_message=check.text(doc, "done_message", ""),
        hidden=_sf_names(check, check.mapping(doc, "hidden", ""), "hidden"),
        defaults=_sf_names(check, check.mapping(doc, "defaults", ""), "defaults"),
        external_id_field=check.text(doc, "external_id_field", "") or None,
        person_field=check.text(doc, "person_field", "") or None,
    )
    for flag in ("requires_link", "once_per_link"):
        on = check.flag(doc, flag, "", False)
        if check.ensure(not on or spec.audience == "public", flag, "audience: public のフォームだけで使えます"):
            setattr(spec, flag, on)
    spec.privacy_consent = check.flag(doc, "privacy_consent", "")
    if spec.once_per_link and not spec.requires_link:
        check.bad("once_per_link", "requires_link: true と一緒に指定してください")
    if "external_id_field" not in doc and obj in ("Lead", "Contact") and obj in read.person_objects():
        # Upsert on our own key means a lost response can be retried without a second record.
        spec.external_id_field = "Tsunagi_Key__c"
    create_only = doc.get("create_only") or []
    if not isinstance(create_only, list) or any(not isinstance(n, str) for n in create_only):
        check.bad("create_only", "項目名のリストで指定してください")
    else:
        spec.create_only = list(create_only)
    match = doc.get("match") or []
    if not isinstance(match, list) or any(m not in MATCH_RULES for m in match):
        check.bad("match", f"{' / '.join(MATCH_RULES)} のリストで指定してください")
    else:
        spec.match = list(match)
    if spec.mode == "match_then_update_or_create" and not spec.match:
        check.bad("match", "mode: match_then_update_or_create には照合ルールが必要です")
    if spec.mode != "create" and obj and obj not in read.person_objects():
        check.bad("mode", f"update と照合は {' / '.join(read.person_objects())} のフォームだけで使えます")
    sections = doc.get("sections")
    if not isinstance(sections, list) or not sections:
        check.bad("sections", "1 つ以上のセクションが必要です")
        sections = []
    for i, raw in enumerate(sections):
        path = f"sections[{i}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("fields"), list):
            check.bad(path, "title と fields（リスト）を指定してください")
            continue
        fields = [f for j, r in enumerate(raw["fields"]) if (f := _field(r, f"{path}.fields[{j}]", check))]
        spec.sections.append(SectionSpec(title=check.text(raw, "title", path), fields=fields,
                                         help=check.text(raw, "help", path)))
    names = [f.name for f in spec.fields]
    for name in {n for n in names if names.count(n) > 1}:
        check.bad("sections", f"項目 {name} が 2 回あります")
    for f in spec.fields:
        if f.visible_if and f.visible_if.get("field") not in names:
            check.bad(f"{f.name}.visible_if.field", f"フォームに無い項目 {f.visible_if.get('field')!r} です")
        if f.type in ("picklist", "radio") and not f.options and not f.from_describe:
            check.bad(f"{f.name}.options", "選択肢が必要です（または from_describe: true）")
    actions = doc.get("actions") or []
    if not isinstance(actions, list):
        check.bad("actions", "リストで指定してください")
        actions = []
    spec.actions = [a for i, r in enumerate(actions) if (a := _action(r, f"actions[{i}]", check))]
    for i, action in enumerate(spec.actions):
        if action.type != "mail_consent":
            continue
        box = spec.field(action.field) if action.field else None
        if action.field and (box is None or box.type != "checkbox"):
            check.bad(f"actions[{i}].field", f"フォームのチェックボックス項目を指定してください（{action.field}）")
        if spec.field("Email") is None:
            check.bad(f"actions[{i}]", "mail_consent には Email 項目が必要です")
    check.raise_if_any()
    return spec


def load_yaml(text: str) -> list[FormSpec]:
    """Parse one YAML document or several (`---`-separated); raise DocumentError on any problem."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise DocumentError([f"YAML として読めません: {exc}"]) from None
    if not docs:
        raise DocumentError(["定義がありません"])
    specs: list[FormSpec] = []
    problems: list[Problem] = []
    for i, doc in enumerate(docs):
        try:
            specs.append(parse_spec(doc))
        except DocumentError as exc:
            problems.extend(exc.within(f"[{i + 1}] ").problems if len(docs) > 1 else exc.problems)
    if problems:
        raise DocumentError(problems)
    return specs


def dump_yaml(specs: list[FormSpec]) -> str:
    """YAML text of one or more definitions (Japanese kept readable, key order kept)."""
    return yaml.safe_dump_all([s.to_dict() for s in specs], allow_unicode=True, sort_keys=False)


def spec_from_dict(doc: dict[str, Any]) -> FormSpec:
    """A stored (already checked) definition back as a FormSpec."""
    return parse_spec(doc)
