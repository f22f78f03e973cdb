"""The automation document: validate what a person wrote (YAML) into the normalized form we store.

Every error names where it is (`trigger.to`, `steps[1].wait`) and says what is wrong, in
Japanese first. The schema is documented in docs/automations.md.
"""

from __future__ import annotations

import re
from typing import Any

from automations.conditions import OPERATORS
from config.validation import Checker, DocumentError, at
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
CAMPAIGN_ID_RE = re.compile(r"^[A-Za-z0-9]{15,18}$")
# The consent basis of an automation's marketing mail (mail.consent.BASES; kept here so the spec
# validates without the mail package): opt_in needs a recorded opt-in, the others are the
# exemptions of 特定電子メール法 第3条第1項第2〜4号 an admin may rely on (docs/mail.md).
CONSENT_BASES = ("opt_in", "notified_in_writing", "existing_relationship", "published_address")


class _AutomationChecker(Checker):
    """The kit's checker with the automation document's own shapes: times, conditions, a send window."""

    def time(self, doc: dict[str, Any], name: str, where: str) -> str | None:
        value = doc.get(name)
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            # YAML 1.1 reads an unquoted 09:00 as the sexagesimal number 540.
            value = f"{value // 60:02d}:{value % 60:02d}"
        if not isinstance(value, str) or not TIME_RE.match(value):
            self.bad(at(where, name), _("時刻は HH:MM で指定してください。"))
            return None
        return value

    def conditions(self, value: Any, where: str) -> list[dict[str, Any]]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.bad(where, _("条件のリストで指定してください。"))
            return []
        out = []
        for i, cond in enumerate(value):
            here = at(where, i)
            if not isinstance(cond, dict):
                self.bad(here, _("field / op / value を持つ項目で指定してください。"))
                continue
            path = self.text(cond, "field", here, required=True, pattern=PATH_RE)
            op = cond.get("op", "eq")
            if op not in OPERATORS:
                self.bad(at(here, "op"), _("使えない演算子です: %(op)s（%(ops)s）", op=op, ops=", ".join(OPERATORS)))
            if op in ("in", "not_in") and not isinstance(cond.get("value"), list):
                self.bad(at(here, "value"), _("in / not_in の値はリストで指定してください。"))
            if path:
                out.append({"field": path, "op": op, "value": cond.get("value")})
        return out

    def window(self, value: Any, where: str) -> dict[str, Any] | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            self.bad(where, _("送信時間帯は start / end を持つ項目で指定してください。"))
            return None
        start = self.time(value, "start", where) or "00:00"
        end = self.time(value, "end", where) or "23:59"
        if start >= end:
            self.bad(where, _("送信時間帯の開始は終了より前にしてください。"))
        return {"start": start, "end": end, "skip_weekends": bool(value.get("skip_weekends", False)),
                "skip_holidays": bool(value.get("skip_holidays", False))}


def _trigger(c: _AutomationChecker, doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict):
        c.bad("trigger", _("必須です。"))
        return {"type": "manual"}
    ttype = c.choice(doc, "type", "trigger", TRIGGER_TYPES,
                     message=_("%(types)s のいずれかを指定してください。", types=", ".join(TRIGGER_TYPES)))
    if not ttype:
        return {"type": "manual"}
    out: dict[str, Any] = {"type": ttype, "include_writeback": bool(doc.get("include_writeback", False))}
    if ttype in ("field_changed", "record_created", "date_relative"):
        out["object"] = c.text(doc, "object", "trigger", required=True, pattern=OBJECT_RE)
    if ttype == "field_changed":
        out["field"] = c.text(doc, "field", "trigger", required=True, pattern=OBJECT_RE)
        for name in ("from", "to"):
            if name in doc:
                out[name] = doc[name]
        if doc.get("became_true"):
            out["to"] = True
    elif ttype == "form_submitted":
        out["form"] = c.text(doc, "form", "trigger", required=True)
    elif ttype == "date_relative":
        out["date_field"] = c.text(doc, "date_field", "trigger", required=True, pattern=PATH_RE)
        out["offset_days"] = int(c.number(doc, "offset_days", "trigger", 0))
        out["at"] = c.time(doc, "at", "trigger") or "09:00"
    elif ttype == "score_threshold":
        out["threshold"] = c.number(doc, "threshold", "trigger", 0)
    elif ttype == "broadcast":
        out["segment"] = c.text(doc, "segment", "trigger", required=True, pattern=KEY_RE)
        if doc.get("campaign_id"):
            out["campaign_id"] = c.text(doc, "campaign_id", "trigger", required=True, pattern=CAMPAIGN_ID_RE)
        when = doc.get("at")
        from datetime import datetime

        if isinstance(when, datetime):
            when = when.isoformat()
        try:
            parsed = datetime.fromisoformat(str(when))
        except ValueError:
            c.bad("trigger.at", _("日時は 2026-12-01T09:00:00+09:00 の形式で指定してください。"))
        else:
            if parsed.tzinfo is None:
                c.bad("trigger.at", _("タイムゾーン付きで指定してください（例 +09:00）。"))
            out["at"] = parsed.isoformat()
    return out


def _actions(c: _AutomationChecker, value: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        c.bad(where, _("アクションを 1 つ以上指定してください。"))
        return []
    out = []
    for i, action in enumerate(value):
        here = at(where, i)
        if not isinstance(action, dict) or action.get("type") not in ACTION_TYPES:
            c.bad(at(here, "type"), _("%(types)s のいずれかを指定してください。", types=", ".join(ACTION_TYPES)))
            continue
        kind = action["type"]
        if kind in ("send_mail", "notify_owner"):
            c.text(action, "template", here, required=True)
            if not isinstance(action.get("marketing", True), bool):
                c.bad(at(here, "marketing"), _("true（広告・宣伝）か false（取引上の連絡）を指定してください。"))
            links = action.get("links") or {}
            if not isinstance(links, dict) or any(not isinstance(v, dict) or not v.get("form") for v in links.values()):
                c.bad(at(here, "links"),
                      _("リンクは 名前: {form: フォーム名, max_age_days: 日数} で指定してください。"))
        elif kind == "update_field":
            if not isinstance(action.get("fields"), dict) or not action["fields"]:
                c.bad(at(here, "fields"), _("更新する項目を 項目名: 値 で指定してください。"))
            c.choice(action, "target", here, ("record", "person"), "record",
                     message=_("record か person を指定してください。"))
        elif kind == "create_task":
            c.text(action, "subject", here, required=True)
        elif kind == "add_to_campaign":
            c.text(action, "campaign_id", here, required=True, pattern=CAMPAIGN_ID_RE)
        elif kind == "campaign_member_status":
            c.text(action, "status", here, required=True)
        elif kind == "start_sequence":
            c.text(action, "automation", here, required=True, pattern=KEY_RE)
        out.append(dict(action))
    return out


def _reentry(c: _AutomationChecker, value: Any) -> dict[str, Any]:
    if isinstance(value, dict) and "rule" in value:  # the stored (exported) form
        value = {"after_days": value.get("days")} if value["rule"] == "after_days" else value["rule"]
    if value in (None, "never"):
        return {"rule": "never"}
    if value == "always":
        return {"rule": "always"}
    if isinstance(value, dict) and "after_days" in value:
        return {"rule": "after_days", "days": c.number(value, "after_days", "reentry", 0, minimum=0)}
    c.bad("reentry", _("never / always / {after_days: 日数} のいずれかを指定してください。"))
    return {"rule": "never"}


def validate_automation(doc: Any) -> dict[str, Any]:
    """Check an automation document and return its normalized form; raise DocumentError listing every problem."""
    c = _AutomationChecker()
    if not isinstance(doc, dict):
        raise DocumentError([_("オートメーションは key / name / trigger を持つ項目で書いてください。")])
    key = c.text(doc, "key", "", required=True, pattern=KEY_RE) or None
    name = c.text(doc, "name", "", required=True) or key
    trigger = _trigger(c, doc.get("trigger"))
    steps_doc = doc.get("steps")
    if steps_doc is None and "actions" in doc:
        steps_doc = [{"actions": doc["actions"]}]
    steps = []
    if not isinstance(steps_doc, list) or not steps_doc:
        c.bad("steps", _("ステップ（または actions）を 1 つ以上指定してください。"))
    else:
        for i, step in enumerate(steps_doc):
            where = f"steps[{i}]"
            if not isinstance(step, dict):
                c.bad(where, _("wait / actions を持つ項目で指定してください。"))
                continue
            wait = step.get("wait") or {}
            if not isinstance(wait, dict):
                c.bad(f"{where}.wait", _("days / hours / at で指定してください。"))
                wait = {}
            steps.append({
                "name": str(step.get("name") or f"step {i + 1}"),
                "wait": {"days": c.number(wait, "days", f"{where}.wait", 0, minimum=0),
                         "hours": c.number(wait, "hours", f"{where}.wait", 0, minimum=0),
                         "at": c.time(wait, "at", f"{where}.wait")},
                "actions": _actions(c, step.get("actions"), f"{where}.actions"),
            })
    exit_doc = doc.get("exit") or {}
    if not isinstance(exit_doc, dict):
        c.bad("exit", _("unsubscribed / lead_converted / form_submitted / conditions で指定してください。"))
        exit_doc = {}
    subject = c.choice(doc, "subject", "", ("record", "person"), "record",
                       message=_("record か person を指定してください。"))
    consent = c.choice(doc, "consent", "", CONSENT_BASES, CONSENT_BASES[0],
                       message=_("%(bases)s のいずれかを指定してください。", bases=", ".join(CONSENT_BASES)))
    # The topic of its marketing mail (MAIL_TOPICS; checked against the settings by checks.py on save).
    topic = doc.get("topic")
    if topic is not None and not (isinstance(topic, str) and KEY_RE.match(topic)):
        c.bad("topic", _("配信テーマのキー（例: news）で指定してください。"))
    salesforce_log = doc.get("salesforce_log")
    if salesforce_log not in (None, "task", "campaign_task", "campaign_member", "none"):
        c.bad("salesforce_log", _("task / campaign_task / campaign_member / none のいずれかを指定してください。"))
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
    c.raise_if_any()
    return normalized


def validate_segment(doc: Any) -> dict[str, Any]:
    """Check a segment document ({key, name, objects, conditions}); raise DocumentError listing every problem."""
    c = _AutomationChecker()
    if not isinstance(doc, dict):
        raise DocumentError([_("セグメントは key / name / conditions を持つ項目で書いてください。")])
    key = c.text(doc, "key", "", required=True, pattern=KEY_RE) or None
    people = list(read.person_objects())
    objects = doc.get("objects", people)
    if not isinstance(objects, list) or not set(objects) <= set(people) or not objects:
        c.bad("objects", _("%(objects)s から選んでください。", objects=" / ".join(people)))
    conditions = c.conditions(doc.get("conditions"), "conditions")
    c.raise_if_any()
    return {"key": key, "name": str(doc.get("name") or key), "objects": objects, "conditions": conditions}
