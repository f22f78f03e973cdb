"""An org definition: the YAML file that says which org the dev org rehearses.

    definition = load_definition(Path("my-org.yaml"))   # DefinitionError lists every mistake

A definition holds `org` (name, time zone, limits, users; `person_accounts: true` turns on Person
Accounts), `custom_fields` ({Object: {Name__c: spec}}), `objects` (custom objects, {Name__c:
{prefix, label, owned, fields}} in the form of devorg/objects.yaml), `outbound_messages` and
`demo_outbound_messages`. The packaged devorg/org.yaml is the demo co-op's; `DEVORG_DIR`'s org
takes another with the `DEVORG_DEFINITION` setting (docs/devorg.md, "The org definition").

Checking happens before anything is built, and collects every mistake so that a company writing
its own definition fixes them in one go.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

FIELD_TYPES = ("string", "textarea", "email", "phone", "url", "picklist", "reference", "boolean", "int",
               "double", "currency", "percent", "date", "datetime")
FIELD_KEYS = {"type", "length", "precision", "scale", "label", "required", "readonly", "createonly", "default",
              "values", "restricted", "ref", "rel", "unique", "external_id", "compound"}
OBJECT_KEYS = {"prefix", "label", "owned", "fields", "stages"}
TOP_KEYS = {"org", "custom_fields", "objects", "outbound_messages", "demo_outbound_messages"}
RULE_KEYS = {"name", "object", "criteria", "fields", "endpoint_url", "every_edit"}
_CUSTOM_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*__c$")
_PREFIX = re.compile(r"^[a-zA-Z0-9]{3}$")


class DefinitionError(ValueError):
    """The org definition cannot be used; the message lists every problem, one per line."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"org definition {source}: " + "; ".join(problems))


def standard_objects() -> dict[str, Any]:
    """The standard objects of devorg/objects.yaml, as parsed YAML."""
    return yaml.safe_load(resources.files("devorg").joinpath("objects.yaml").read_text(encoding="utf-8"))


def load_definition(path: Path | str | None = None) -> dict[str, Any]:
    """The org definition (packaged org.yaml when `path` is None), checked; raise DefinitionError."""
    if path is None:
        source = "devorg/org.yaml"
        text = resources.files("devorg").joinpath("org.yaml").read_text(encoding="utf-8")
    else:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise DefinitionError(source, [f"cannot be read ({exc.strerror or exc})"]) from None
    try:
        definition = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise DefinitionError(source, [f"is not valid YAML ({' '.join(str(exc).split())})"]) from None
    if not isinstance(definition, dict):
        raise DefinitionError(source, ["must be a YAML mapping with keys such as org and custom_fields"])
    for key, empty in (("org", {}), ("custom_fields", {}), ("objects", {}), ("outbound_messages", []),
                       ("demo_outbound_messages", [])):
        if definition.get(key) is None:
            definition[key] = empty
    problems = check_definition(definition)
    if problems:
        raise DefinitionError(source, problems)
    return definition


def _check_field(where: str, spec: Any, known_objects: set[str]) -> list[str]:
    if not isinstance(spec, dict):
        return [f"{where}: must be a mapping such as {{type: string, length: 80}}"]
    problems = [f"{where}: unknown key {key!r} (known: {', '.join(sorted(FIELD_KEYS))})"
                for key in spec if key not in FIELD_KEYS]
    ftype = spec.get("type")
    if ftype not in FIELD_TYPES:
        problems.append(f"{where}: type {ftype!r} is not one of {', '.join(FIELD_TYPES)}")
    for key in ("length", "precision", "scale"):
        if key in spec and (not isinstance(spec[key], int) or isinstance(spec[key], bool) or spec[key] < 0):
            problems.append(f"{where}: {key} must be a whole number")
    if ftype in ("string", "textarea", "email", "phone", "url") and not spec.get("length"):
        problems.append(f"{where}: a {ftype} field needs a length")
    label = spec.get("label")
    if label is not None and (not isinstance(label, list) or len(label) != 2):
        problems.append(f"{where}: label must be [Japanese, English]")
    if ftype == "picklist" and not isinstance(spec.get("values", []), list):
        problems.append(f"{where}: values must be a list")
    if ftype == "reference":
        refs = spec.get("ref")
        if not isinstance(refs, list) or not refs:
            problems.append(f"{where}: a reference field needs ref: [Object]")
        else:
            problems += [f"{where}: ref names unknown object {r!r}" for r in refs if r not in known_objects]
    return problems


def check_definition(definition: dict[str, Any]) -> list[str]:
    """Every problem of a parsed definition (empty when it is usable)."""
    problems = [f"unknown top-level key {key!r} (known: {', '.join(sorted(TOP_KEYS))})"
                for key in definition if key not in TOP_KEYS]
    if not isinstance(definition["org"], dict):
        return [*problems, "org must be a mapping"]
    standard = standard_objects()
    objects = definition["objects"]
    custom_fields = definition["custom_fields"]
    if not isinstance(objects, dict):
        return [*problems, "objects must be a mapping {Name__c: {prefix, label, fields}}"]
    if not isinstance(custom_fields, dict):
        return [*problems, "custom_fields must be a mapping {Object: {Name__c: spec}}"]
    known = set(standard) | set(objects)
    prefixes = {str(spec["prefix"]): name for name, spec in standard.items()}
    for name, spec in objects.items():
        where = f"objects.{name}"
        if not _CUSTOM_NAME.match(str(name)):
            problems.append(f"{where}: a custom object's name must end in __c")
        if name in standard:
            problems.append(f"{where}: {name} is a standard object; add its fields under custom_fields")
        if not isinstance(spec, dict):
            problems.append(f"{where}: must be a mapping with prefix, label and fields")
            continue
        problems += [f"{where}: unknown key {key!r} (known: {', '.join(sorted(OBJECT_KEYS))})"
                     for key in spec if key not in OBJECT_KEYS]
        prefix = str(spec.get("prefix", ""))
        if not _PREFIX.match(prefix):
            problems.append(f"{where}: prefix must be three letters or digits (e.g. a01)")
        elif prefix in prefixes:
            problems.append(f"{where}: prefix {prefix} is already {prefixes[prefix]}'s")
        else:
            prefixes[prefix] = name
        label = spec.get("label")
        if not isinstance(label, list) or len(label) != 4:
            problems.append(f"{where}: label must be [Japanese, English, Japanese plural, English plural]")
        fields = spec.get("fields")
        if not isinstance(fields, dict) or not fields:
            problems.append(f"{where}: fields must be a non-empty mapping")
            continue
        for fname, fspec in fields.items():
            problems += _check_field(f"{where}.{fname}", fspec, known)
    for obj, fields in custom_fields.items():
        if obj not in known:
            problems.append(f"custom_fields.{obj}: no such object (standard: {', '.join(sorted(standard))}; "
                            "define custom objects under objects)")
            continue
        if not isinstance(fields, dict):
            problems.append(f"custom_fields.{obj}: must be a mapping {{Name__c: spec}}")
            continue
        for fname, fspec in fields.items():
            if not _CUSTOM_NAME.match(str(fname)):
                problems.append(f"custom_fields.{obj}.{fname}: a custom field's name must end in __c")
            problems += _check_field(f"custom_fields.{obj}.{fname}", fspec, known)
    for key in ("outbound_messages", "demo_outbound_messages"):
        rules = definition[key]
        if not isinstance(rules, list):
            problems.append(f"{key} must be a list")
            continue
        for n, rule in enumerate(rules):
            where = f"{key}[{n}]"
            if not isinstance(rule, dict):
                problems.append(f"{where}: must be a mapping")
                continue
            problems += [f"{where}: unknown key {k!r}" for k in rule if k not in RULE_KEYS]
            problems += [f"{where}: {k} is missing" for k in ("object", "criteria", "fields", "endpoint_url")
                         if k not in rule]
            if rule.get("object") is not None and rule["object"] not in known:
                problems.append(f"{where}: no such object {rule['object']!r}")
    if not isinstance(definition["org"].get("person_accounts", False), bool):
        problems.append("org.person_accounts must be true or false")
    return problems
