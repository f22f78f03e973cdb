"""Checks of a valid automation against the org and the other definitions, before it is saved.

    reference_errors(session, spec) -> [Problem(where, message), ...]
    yaml_lines(text) -> {where: line}
    with_lines(problems, text) -> [(line | None, "where: message"), ...]

The shape of a document is checked by `spec.validate_automation`; this module checks what it
names: objects and fields against the org's cached describe (salesforce.describe; the fields
sync mirrors, of the objects in SYNC_OBJECTS), picklist values against the same describe, mail
templates, forms, segments and automations by key, and the mail topic against MAIL_TOPICS. An
object never described is not guessed at (nothing to compare with); every other unknown name is
an error, because a definition naming a misspelled field never fires and says nothing.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from config import settings_of
from config.validation import Problem
from forms.models import FormDefinition
from mail.models import MailTemplate
from salesforce import describe as describes
from sync import read
from sync.describe import mirrored_types
from web.i18n import gettext as _

RECORD_TRIGGERS = ("field_changed", "record_created", "date_relative")


class _Org:
    """Field names per mirrored object and picklist values, from the org's cached describe."""

    def __init__(self, session: Session) -> None:
        cached = describes.described(session)
        self.fields = {name: set(mirrored_types(facts)) for name, facts in cached.items()
                       if name in settings_of().sync_objects and mirrored_types(facts)}
        self.picklists = {name: {field: [p["value"] for p in f.get("picklist") or []]
                                 for field, f in facts.items() if f.get("picklist")}
                          for name, facts in cached.items()}

    def unknown_field(self, objects: tuple[str, ...], name: str) -> str | None:
        """An error when no described object of `objects` has field `name` (None when one has, or none is described)."""
        described = [o for o in objects if o in self.fields]
        if not described or any(name in self.fields[o] for o in described):
            return None
        return _("項目 %(field)s は %(objects)s にありません。", field=name, objects=" / ".join(described))


def _keys(session: Session, model: Any) -> set[str]:
    return set(session.scalars(select(model.key)))


def reference_errors(session: Session, spec: dict[str, Any]) -> list[Problem]:
    """Every name in a validated automation that the org or the other definitions do not know."""
    from automations.models import Automation, Segment

    org = _Org(session)
    errors: list[Problem] = []
    trig = spec["trigger"]
    obj = trig.get("object")
    subject_objects: tuple[str, ...] = (obj,) if trig["type"] in RECORD_TRIGGERS and obj else read.person_objects()
    if trig["type"] in RECORD_TRIGGERS and obj and org.fields and obj not in org.fields:
        errors.append(Problem("trigger.object",
                              _("オブジェクト %(object)s は同期されていません（綴りを確認してください）。",
                                object=obj)))
    if trig["type"] == "field_changed":
        problem = org.unknown_field((obj,), trig["field"])
        if problem:
            errors.append(Problem("trigger.field", problem))
        values = org.picklists.get(obj, {}).get(trig["field"])
        for name in ("to", "from"):
            value = trig.get(name)
            if values and isinstance(value, str) and value not in values:
                errors.append(Problem(f"trigger.{name}",
                                      _("%(value)s は %(field)s の選択肢にありません（%(values)s）。",
                                        value=value, field=trig["field"], values=", ".join(values))))
    if trig["type"] == "date_relative" and "." not in trig["date_field"]:
        problem = org.unknown_field((obj,), trig["date_field"])
        if problem:
            errors.append(Problem("trigger.date_field", problem))
    if trig["type"] == "form_submitted":
        errors += _form_errors(session, "trigger.form", trig["form"])
    if trig["type"] == "broadcast" and trig["segment"] not in _keys(session, Segment):
        errors.append(Problem("trigger.segment", _("セグメント %(key)s がありません。", key=trig["segment"])))
    for where, conditions in (("conditions", spec.get("conditions") or []),
                              ("exit.conditions", spec.get("exit", {}).get("conditions") or [])):
        for i, cond in enumerate(conditions):
            path = cond["field"]
            head, _dot, rest = path.partition(".")
            problem = (org.unknown_field(subject_objects, path) if not rest
                       else org.unknown_field(read.person_objects(), rest) if head == "person" else None)
            if problem:
                errors.append(Problem(f"{where}[{i}].field", problem))
    if spec.get("exit", {}).get("form_submitted"):
        errors += _form_errors(session, "exit.form_submitted", spec["exit"]["form_submitted"])
    errors += _topic_errors(spec)
    templates = _keys(session, MailTemplate)
    automations = _keys(session, Automation) | {spec["key"]}
    for s, step in enumerate(spec["steps"]):
        for a, action in enumerate(step["actions"]):
            here = f"steps[{s}].actions[{a}]"
            if action["type"] in ("send_mail", "notify_owner") and action.get("template") not in templates:
                errors.append(Problem(f"{here}.template", _("メールテンプレート %(key)s がありません。",
                                                           key=action.get("template"))))
            for name, link in (action.get("links") or {}).items():
                errors += _form_errors(session, f"{here}.links.{name}.form", link.get("form"))
            if action["type"] == "update_field":
                objects = read.person_objects() if action.get("target") == "person" else subject_objects
                for name in action.get("fields") or {}:
                    problem = org.unknown_field(objects, str(name))
                    if problem:
                        errors.append(Problem(f"{here}.fields.{name}", problem))
            if action["type"] == "start_sequence" and action["automation"] not in automations:
                errors.append(Problem(f"{here}.automation", _("オートメーション %(key)s がありません。",
                                                             key=action["automation"])))
    return errors


def _topic_errors(spec: dict[str, Any]) -> list[Problem]:
    """The automation's `topic` against MAIL_TOPICS (nothing to compare with outside an app)."""
    from flask import current_app, has_app_context

    topic = spec.get("topic")
    if not topic or not has_app_context() or "TSUNAGI" not in current_app.config:
        return []
    topics = dict(settings_of().mail_topics)
    if topic in topics:
        return []
    return [Problem("topic", _("配信テーマ %(topic)s は MAIL_TOPICS にありません（%(topics)s）。", topic=topic,
                               topics=", ".join(f"{k}={v}" for k, v in topics.items())))]


def _form_errors(session: Session, where: str, key: Any) -> list[Problem]:
    if key in _keys(session, FormDefinition):
        return []
    return [Problem(where, _("フォーム %(key)s がありません。", key=key))]


def yaml_lines(text: str) -> dict[str, int]:
    """{where: 1-based line} for every key and list item of a YAML document (`steps[1].wait`)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    lines: dict[str, int] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                here = f"{path}.{key.value}" if path else str(key.value)
                lines.setdefault(here, key.start_mark.line + 1)
                walk(value, here)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                here = f"{path}[{i}]"
                lines.setdefault(here, item.start_mark.line + 1)
                walk(item, here)

    if root is not None:
        walk(root, "")
    return lines


def with_lines(problems: list[Problem], text: str) -> list[tuple[int | None, str]]:
    """Each problem with the line of the place it names (the nearest enclosing place that has one)."""
    lines = yaml_lines(text)
    out: list[tuple[int | None, str]] = []
    for problem in problems:
        where = problem.path
        line = None
        while where and line is None:
            line = lines.get(where)
            parent = re.sub(r"(\.[^.\[\]]+|\[\d+\])$", "", where)
            where = parent if parent != where else ""
        out.append((line, str(problem)))
    return out
