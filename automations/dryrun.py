"""Dry run: who an automation would affect right now, and its first mail rendered for a sample record.

Nothing is planned, sent or written. "Right now" means, per trigger:
- field_changed: records whose field already holds the target value (they would fire on such a change);
- record_created: records of the object that meet the conditions;
- date_relative: records whose moment falls today or within the next 7 days;
- broadcast: the segment's members;
- form_submitted / score_threshold / manual: the people who would qualify (conditions only).
The scan is capped (SCAN_LIMIT records) so a dry run stays quick on a large mirror.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from automations import timing
from automations.actions import mail_context
from automations.conditions import MirrorView, Record, failing_condition
from automations.engine import Runtime
from automations.models import Automation
from sync.models import MirrorRecord
from web.i18n import gettext as _

SCAN_LIMIT = 5000
SHOW = 50
RECORD_TRIGGERS = ("field_changed", "record_created", "date_relative")


@dataclass
class DryRun:
    """What a dry run found."""

    scanned: int = 0
    matched: int = 0
    capped: bool = False
    sample: list[dict[str, Any]] = field(default_factory=list)
    mail: dict[str, Any] | None = None
    note: str = ""


def _matches_trigger(view: MirrorView, trig: dict[str, Any], record: Record, rt: Runtime) -> bool:
    if trig["type"] == "field_changed":
        if "to" not in trig:
            return True
        from automations.triggers import _value_matches

        return _value_matches(trig["to"], record.fields.get(trig["field"]))
    if trig["type"] == "date_relative":
        day = timing.parse_sf_date(view.resolve(record, trig["date_field"]))
        if day is None:
            return False
        moment = timing.date_relative_moment(day, trig["offset_days"], trig["at"], rt.tz)
        return rt.now - timedelta(days=1) <= moment <= rt.now + timedelta(days=7)
    return True


def dry_run(session: Session, automation: Automation, now: datetime, tz: str) -> DryRun:
    """Evaluate `automation` against the mirror as it is now, without changing anything."""
    rt = Runtime(now=now, tz=tz)
    view = rt.view(session)
    result = DryRun()
    trig = automation.spec["trigger"]
    conditions = automation.spec.get("conditions") or []
    if trig["type"] == "broadcast":
        from automations.segments import segment_members

        records = segment_members(session, trig["segment"])
    else:
        # Record triggers scan their object; event triggers (forms, scores, manual) scan people.
        objects = [trig["object"]] if trig["type"] in RECORD_TRIGGERS else ["Lead", "Contact"]
        rows = session.execute(select(MirrorRecord.sf_id, MirrorRecord.object_name, MirrorRecord.fields)
                               .where(MirrorRecord.object_name.in_(objects), MirrorRecord.is_deleted.is_(False))
                               .order_by(MirrorRecord.last_seen_at.desc()).limit(SCAN_LIMIT + 1))
        records = (Record(i, o, f or {}) for i, o, f in rows)
        if trig["type"] in ("form_submitted", "score_threshold", "manual"):
            result.note = _("イベントで開始します。条件を満たす人を表示しています。")
    for record in records:
        if result.scanned >= SCAN_LIMIT:
            result.capped = True
            break
        result.scanned += 1
        view.put(record)
        if not _matches_trigger(view, trig, record, rt) or failing_condition(view, record, conditions):
            continue
        result.matched += 1
        if len(result.sample) < SHOW:
            person = view.person_of(record)
            result.sample.append({"id": record.id, "object": record.object_name,
                                  "person_id": person.id if person else None,
                                  "email": (person.fields.get("Email") if person else None) or "",
                                  "name": (person.fields.get("Name") or person.fields.get("LastName"))
                                  if person else record.fields.get("Name") or record.fields.get("Subject")})
        if result.mail is None:
            result.mail = _render_first_mail(session, rt, automation, record, view.person_of(record))
    return result


def _render_first_mail(session: Session, rt: Runtime, automation: Automation, record: Record,
                       person: Record | None) -> dict[str, Any] | None:
    for step in automation.spec["steps"]:
        for action in step["actions"]:
            if action["type"] in ("send_mail", "notify_owner"):
                return render_mail(session, rt, automation, action, record, person)
    return None


def render_mail(session: Session, rt: Runtime, automation: Automation, action: dict[str, Any], record: Record,
                person: Record | None) -> dict[str, Any]:
    """The template of `action` rendered with the context a real send would use (or the error)."""
    from mail.templates import compiled_for, get_template, known_fields, render, sample_context

    template = get_template(session, action["template"])
    if template is None:
        return {"template": action["template"], "error": f"テンプレート {action['template']} がありません"}
    try:
        context = mail_context(session, rt, automation, record, person,
                               action.get("links") if person is not None else None)
        rendered = render(compiled_for(template), sample_context(known_fields(session), context))
    except Exception as exc:  # a broken template or link must show as an error, not a 500
        return {"template": template.key, "error": f"{type(exc).__name__}: {exc}"}
    return {"template": template.key, "subject": rendered.subject, "html": rendered.html, "text": rendered.text,
            "record_id": record.id}
