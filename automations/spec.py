"""The automation document: validate what a person wrote (YAML) into the normalized form we store.

Every error names where it is (`trigger.to`, `steps[1].wait`) and says what is wrong, in
Japanese first. The schema is documented in docs/automations.md.
"""

from __future__ import annotations

import re
from typing import Any

from automations.conditions import OPERATORS
from sync import read
from web.i18n import gettext as _

TRIGGER_TYPES = ("field_changed", "record_created", "form_submitted", "date_relative", "score_threshold",
                 "broadcast", "manual")
ACTION_TYPES = ("send_mail", "notify_owner", "update_field", "create_task", "add_to_campaign",
                "campaign_member_status", "start_sequence")
KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")
OBJECT_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
PATH_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)?$")
TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_MISSING = object()
# The consent basis of an automation's marketing mail (mail.consent.BASES; kept here so the spec
# validates without the mail package): opt_in needs a recorded opt-in, the others are the
# exemptions of 特定電子メール法 第3条第1項第2〜4号 an admin may rely on (docs/mail.md).
CONSENT_BASES = ("opt_in", "notified_in_writing", "existing_relationship", "published_address")


class SpecError(ValueError):
    """An automation or segment document is invalid; `errors` lists every problem found."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


class _Checker:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, where: str, message: str) -> None:
        self.errors.append(f"{where}: {message}")

    def text(self, doc: dict[str, Any], name: str, where: str, required: bool = True,
             pattern: re.Pattern[str] | None = None) -> str | None:
        value = doc.get(name, _MISSING)
        if value is _MISSING or value is None or value == "":
            if required:
                self.fail(f"{where}{name}", _("必須です。"))
            return None
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            self.fail(f"{where}{name}", _("文字列で指定してください。"))
            return None
        value = str(value)
        if pattern is not None and not pattern.match(value):
            self.fail(f"{where}{name}", _("形式が正しくありません: %(value)s", value=value))
            return None
        return value

    def number(self, doc: dict[str, Any], name: str, where: str, default: float = 0, minimum: float | None = None,
               ) -> float:
        value = doc.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(f"{where}{name}", _("数値で指定してください。"))
            return default
        if minimum is not None and value < minimum:
            self.fail(f"{where}{name}", _("%(minimum)s 以上にしてください。", minimum=minimum))
        return value

    def time(self, doc: dict[str, Any], name: str, where: str) -> str | None:
        value = doc.get(name)
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            # YAML 1.1 reads an unquoted 09:00 as the sexagesimal number 540.
            value = f"{value // 60:02d}:{value % 60:02d}"
        if not isinstance(value, str) or not TIME_RE.match(value):
            self.fail(f"{where}{name}", _("時刻は HH:MM で指定してください。"))
            return None
        return value

    def conditions(self, value: Any, where: str) -> list[dict[str, Any]]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(where, _("条件のリストで指定してください。"))
            return []
        out = []
        for i, cond in enumerate(value):
            here = f"{where}[{i}]."
            if not isinstance(cond, dict):
                self.fail(f"{where}[{i}]", _("field / op / value を持つ項目で指定してください。"))
                continue
            path = self.text(cond, "field", here, pattern=PATH_RE)
            op = cond.get("op", "eq")
            if op not in OPERATORS:
                self.fail(f"{here}op", _("使えない演算子です: %(op)s（%(ops)s）", op=op, ops=", ".join(OPERATORS)))
            if op in ("in", "not_in") and not isinstance(cond.get("value"), list):
                self.fail(f"{here}value", _("in / not_in の値はリストで指定してください。"))
            if path:
                out.append({"field": path, "op": op, "value": cond.get("value")})
        return out

    def window(self, value: Any, where: str) -> dict[str, Any] | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            self.fail(where, _("送信時間帯は start / end を持つ項目で指定してください。"))
            return None
        start = self.time(value, "start", f"{where}.") or "00:00"
        end = self.time(value, "end", f"{where}.") or "23:59"
        if start >= end:
            self.fail(where, _("送信時間帯の開始は終了より前にしてください。"))
        return {"start": start, "end": end, "skip_weekends": bool(value.get("skip_weekends", False)),
                "skip_holidays": bool(value.get("skip_holidays", False))}


def _trigger(c: _Checker, doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict):
        c.fail("trigger", _("必須です。"))
        return {"type": "manual"}
    ttype = doc.get("type")
    if ttype not in TRIGGER_TYPES:
        c.fail("trigger.type", _("%(types)s のいずれかを指定してください。", types=", ".join(TRIGGER_TYPES)))
        return {"type": "manual"}
    out: dict[str, Any] = {"type": ttype, "include_writeback": bool(doc.get("include_writeback", False))}
    if ttype in ("field_changed", "record_created", "date_relative"):
        out["object"] = c.text(doc, "object", "trigger.", pattern=OBJECT_RE)
    if ttype == "field_changed":
        out["field"] = c.text(doc, "field", "trigger.", pattern=OBJECT_RE)
        for name in ("from", "to"):
            if name in doc:
                out[name] = doc[name]
        if doc.get("became_true"):
            out["to"] = True
    elif ttype == "form_submitted":
        out["form"] = c.text(doc, "form", "trigger.")
    elif ttype == "date_relative":
        out["date_field"] = c.text(doc, "date_field", "trigger.", pattern=PATH_RE)
        out["offset_days"] = int(c.number(doc, "offset_days", "trigger."))
        out["at"] = c.time(doc, "at", "trigger.") or "09:00"
    elif ttype == "score_threshold":
        out["threshold"] = c.number(doc, "threshold", "trigger.")
    elif ttype == "broadcast":
        out["segment"] = c.text(doc, "segment", "trigger.", pattern=KEY_RE)
        if doc.get("campaign_id"):
            out["campaign_id"] = c.text(doc, "campaign_id", "trigger.", pattern=re.compile(r"^[A-Za-z0-9]{15,18}$"))
        at = doc.get("at")
        from datetime import datetime

        if isinstance(at, datetime):
            at = at.isoformat()
        try:
            parsed = datetime.fromisoformat(str(at))
        except ValueError:
            c.fail("trigger.at", _("日時は 2026-12-01T09:00:00+09:00 の形式で指定してください。"))
        else:
            if parsed.tzinfo is None:
                c.fail("trigger.at", _("タイムゾーン付きで指定してください（例 +09:00）。"))
            out["at"] = parsed.isoformat()
    return out


def _actions(c: _Checker, value: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        c.fail(where, _("アクションを 1 つ以上指定してください。"))
        return []
    out = []
    for i, action in enumerate(value):
        here = f"{where}[{i}]."
        if not isinstance(action, dict) or action.get("type") not in ACTION_TYPES:
            c.fail(f"{here}type", _("%(types)s のいずれかを指定してください。", types=", ".join(ACTION_TYPES)))
            continue
        kind = action["type"]
        if kind in ("send_mail", "notify_owner"):
            c.text(action, "template", here)
            if not isinstance(action.get("marketing", True), bool):
                c.fail(f"{here}marketing", _("true（広告・宣伝）か false（取引上の連絡）を指定してください。"))
            links = action.get("links") or {}
            if not isinstance(links, dict) or any(not isinstance(v, dict) or not v.get("form") for v in links.values()):
                c.fail(f"{here}links", _("リンクは 名前: {form: フォーム名, max_age_days: 日数} で指定してください。"))
        elif kind == "update_field":
            if not isinstance(action.get("fields"), dict) or not action["fields"]:
                c.fail(f"{here}fields", _("更新する項目を 項目名: 値 で指定してください。"))
            if action.get("target", "record") not in ("record", "person"):
                c.fail(f"{here}target", _("record か person を指定してください。"))
        elif kind == "create_task":
            c.text(action, "subject", here)
        elif kind == "add_to_campaign":
            c.text(action, "campaign_id", here, pattern=re.compile(r"^[A-Za-z0-9]{15,18}$"))
        elif kind == "campaign_member_status":
            c.text(action, "status", here)
        elif kind == "start_sequence":
            c.text(action, "automation", here, pattern=KEY_RE)
        out.append(dict(action))
    return out


def _reentry(c: _Checker, value: Any) -> dict[str, Any]:
    if isinstance(value, dict) and "rule" in value:  # the stored (exported) form
        value = {"after_days": value.get("days")} if value["rule"] == "after_days" else value["rule"]
    if value in (None, "never"):
        return {"rule": "never"}
    if value == "always":
        return {"rule": "always"}
    if isinstance(value, dict) and "after_days" in value:
        return {"rule": "after_days", "days": c.number(value, "after_days", "reentry.", minimum=0)}
    c.fail("reentry", _("never / always / {after_days: 日数} のいずれかを指定してください。"))
    return {"rule": "never"}


def validate_automation(doc: Any) -> dict[str, Any]:
    """Check an automation document and return its normalized form; raise SpecError listing every problem."""
    c = _Checker()
    if not isinstance(doc, dict):
        raise SpecError([_("オートメーションは key / name / trigger を持つ項目で書いてください。")])
    key = c.text(doc, "key", "", pattern=KEY_RE)
    name = c.text(doc, "name", "") or key
    trigger = _trigger(c, doc.get("trigger"))
    steps_doc = doc.get("steps")
    if steps_doc is None and "actions" in doc:
        steps_doc = [{"actions": doc["actions"]}]
    steps = []
    if not isinstance(steps_doc, list) or not steps_doc:
        c.fail("steps", _("ステップ（または actions）を 1 つ以上指定してください。"))
    else:
        for i, step in enumerate(steps_doc):
            where = f"steps[{i}]"
            if not isinstance(step, dict):
                c.fail(where, _("wait / actions を持つ項目で指定してください。"))
                continue
            wait = step.get("wait") or {}
            if not isinstance(wait, dict):
                c.fail(f"{where}.wait", _("days / hours / at で指定してください。"))
                wait = {}
            steps.append({
                "name": str(step.get("name") or f"step {i + 1}"),
                "wait": {"days": c.number(wait, "days", f"{where}.wait.", minimum=0),
                         "hours": c.number(wait, "hours", f"{where}.wait.", minimum=0),
                         "at": c.time(wait, "at", f"{where}.wait.")},
                "actions": _actions(c, step.get("actions"), f"{where}.actions"),
            })
    exit_doc = doc.get("exit") or {}
    if not isinstance(exit_doc, dict):
        c.fail("exit", _("unsubscribed / lead_converted / form_submitted / conditions で指定してください。"))
        exit_doc = {}
    subject = doc.get("subject", "record")
    if subject not in ("record", "person"):
        c.fail("subject", _("record か person を指定してください。"))
    consent = doc.get("consent", CONSENT_BASES[0])
    if consent not in CONSENT_BASES:
        c.fail("consent", _("%(bases)s のいずれかを指定してください。", bases=", ".join(CONSENT_BASES)))
    # The topic of its marketing mail (MAIL_TOPICS; checked against the settings by checks.py on save).
    topic = doc.get("topic")
    if topic is not None and not (isinstance(topic, str) and KEY_RE.match(topic)):
        c.fail("topic", _("配信テーマのキー（例: news）で指定してください。"))
    salesforce_log = doc.get("salesforce_log")
    if salesforce_log not in (None, "task", "campaign_task", "campaign_member", "none"):
        c.fail("salesforce_log", _("task / campaign_task / campaign_member / none のいずれかを指定してください。"))
    normalized = {
        "key": key, "name": name, "description": str(doc.get("description") or ""),
        "consent": consent,
        "trigger": trigger,
        "conditions": c.conditions(doc.get("conditions"), "conditions"),
        "subject": subject,
        "reentry": _reentry(c, doc.get("reentry")),
        "window": c.window(doc.get("window"), "window"),
        "exit": {
            "unsubscribed": bool(exit_doc.get("unsubscribed", True)),
            "lead_converted": bool(exit_doc.get("lead_converted", False)),
            "form_submitted": exit_doc.get("form_submitted"),
            "conditions": c.conditions(exit_doc.get("conditions"), "exit.conditions"),
        },
        "steps": steps,
    }
    if salesforce_log:
        normalized["salesforce_log"] = salesforce_log
    if topic:
        normalized["topic"] = topic
    if c.errors:
        raise SpecError(c.errors)
    return normalized


def validate_segment(doc: Any) -> dict[str, Any]:
    """Check a segment document ({key, name, objects, conditions}); raise SpecError listing every problem."""
    c = _Checker()
    if not isinstance(doc, dict):
        raise SpecError([_("セグメントは key / name / conditions を持つ項目で書いてください。")])
    key = c.text(doc, "key", "", pattern=KEY_RE)
    people = list(read.person_objects())
    objects = doc.get("objects", people)
    if not isinstance(objects, list) or not set(objects) <= set(people) or not objects:
        c.fail("objects", _("%(objects)s から選んでください。", objects=" / ".join(people)))
    conditions = c.conditions(doc.get("conditions"), "conditions")
    if c.errors:
        raise SpecError(c.errors)
    return {"key": key, "name": str(doc.get("name") or key), "objects": objects, "conditions": conditions}
