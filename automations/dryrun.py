"""Dry run: who an automation would affect right now, and its first mail rendered for a sample record.

Nothing is planned, sent or written. "Right now" means, per trigger:
- field_changed: the changes not yet processed that would fire it (a record whose field already
  held the value before is not news: it fired then, or never will);
- record_created: records of the object that meet the conditions;
- date_relative: records whose moment falls today or within the next 7 days;
- broadcast: the segment's members;
- form_submitted / score_threshold / manual: the people who would qualify (conditions only).

Each record found is then put through the same rules as the real run — re-entry
(`engine.reentry_refused`), the person checks of a send_mail step (`actions.person_refusal`) and the
outbox worker's suppression / opt-out / consent / topic rule (`mail.consent.send_refusal`) — and counted
as mailed or excluded with the reason. The scan is capped (SCAN_LIMIT records) so a dry run stays
quick on a large mirror; rows are shown PAGE_SIZE at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from automations import timing
from automations.actions import mail_context, person_refusal
from automations.conditions import MirrorView, Record, failing_condition
from automations.engine import Runtime, reentry_refused, subject_of
from automations.models import Automation
from automations.queries import latest_enrollment
from mail.consent import SKIP_REASONS, recipient_facts, send_refusal
from mail.templates import compiled_for, get_template, known_fields, render, sample_context
from mail.topics import current_topic_of, topic_optouts
from sync import read
from sync.models import ChangeEvent
from sync.read import Mirror
from web.i18n import gettext as _

SCAN_LIMIT = 5000
PAGE_SIZE = 50
RECORD_TRIGGERS = ("field_changed", "record_created", "date_relative")
# A new occurrence for the re-entry rule: never equal to a stored one.
DRY_RUN_OCCURRENCE = "dry-run"


@dataclass
class DryRun:
    """What a dry run found: every matching record, whether it would be mailed, one page of them."""

    scanned: int = 0
    matched: int = 0
    mailed: int = 0
    capped: bool = False
    page: int = 1
    rows: list[dict[str, Any]] = field(default_factory=list)
    excluded: dict[str, int] = field(default_factory=dict)
    mail: dict[str, Any] | None = None
    note: str = ""

    @property
    def pages(self) -> int:
        """How many pages of PAGE_SIZE rows."""
        return max(1, -(-self.matched // PAGE_SIZE))

    @property
    def first(self) -> int:
        """1-based number of the first row shown (0 when none)."""
        return (self.page - 1) * PAGE_SIZE + 1 if self.rows else 0

    @property
    def last(self) -> int:
        """1-based number of the last row shown."""
        return self.first + len(self.rows) - 1 if self.rows else 0


def _first_mail_action(automation: Automation) -> dict[str, Any] | None:
    for step in automation.spec["steps"]:
        for action in step["actions"]:
            if action["type"] == "send_mail":
                return action
    return None


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


def _pending_changes(session: Session, trig: dict[str, Any]) -> list[str]:
    """Ids of records with an unprocessed change that fires a field_changed trigger (oldest first)."""
    from automations.triggers import INITIAL_LOAD, field_change_matches

    rows = session.execute(
        select(ChangeEvent.record_id, ChangeEvent.kind, ChangeEvent.field, ChangeEvent.old_value,
               ChangeEvent.new_value, ChangeEvent.source)
        .where(ChangeEvent.processed_at.is_(None), ChangeEvent.object_name == trig["object"],
               ChangeEvent.kind.in_(("updated", "created")))
        .order_by(ChangeEvent.id).limit(SCAN_LIMIT + 1)).all()
    ids: list[str] = []
    for ev in rows:
        if ev.kind == "updated" and ev.field == trig["field"] and field_change_matches(
                trig, ev.old_value, ev.new_value, ev.source):
            ids.append(ev.record_id)
        elif ev.kind == "created" and ev.source != INITIAL_LOAD:
            ids.append(ev.record_id)  # its value is checked against the mirror below
    return list(dict.fromkeys(ids))


def _records(session: Session, result: DryRun, automation: Automation) -> Any:
    trig = automation.spec["trigger"]
    if trig["type"] == "broadcast":
        from automations.segments import segment_members

        return segment_members(session, trig["segment"])
    query = select(Mirror.sf_id, Mirror.object_name, Mirror.fields).where(
        Mirror.is_deleted.is_(False))
    if trig["type"] == "field_changed":
        result.note = _("項目の変更で開始します。まだ処理されていない変更で、今動くものだけを表示しています。")
        ids = _pending_changes(session, trig)
        rows = session.execute(query.where(Mirror.sf_id.in_(ids))).all() if ids else []
        order = {record_id: n for n, record_id in enumerate(ids)}
        rows = sorted(rows, key=lambda r: order[r[0]])
    else:
        # Record triggers scan their object; event triggers (forms, scores, manual) scan people.
        objects = [trig["object"]] if trig["type"] in RECORD_TRIGGERS else ["Lead", "Contact"]
        rows = session.execute(query.where(Mirror.object_name.in_(objects))
                               .order_by(Mirror.last_seen_at.desc(), Mirror.sf_id)
                               .limit(SCAN_LIMIT + 1)).all()
        if trig["type"] in ("form_submitted", "score_threshold", "manual"):
            result.note = _("イベントで開始します。条件を満たす人を表示しています。")
    return (Record(i, o, f or {}) for i, o, f in rows)


def _exclusion(session: Session, rt: Runtime, view: MirrorView, automation: Automation, record: Record,
               person: Record | None, mail_action: dict[str, Any] | None,
               facts: tuple[dict[str, str], dict[str, bool], dict[str, set[str]], str | None]) -> str | None:
    """Why the real run would not mail (or enter) `record` now, in words; None when it would."""
    subject_id, _person_id = subject_of(view, automation, record)
    previous = session.scalar(latest_enrollment(automation.id, subject_id))
    if reentry_refused(automation, previous, DRY_RUN_OCCURRENCE, rt.now):
        return _("再登録ルールにより対象外（登録済み）")
    if mail_action is None:
        return None
    marketing = bool(mail_action.get("marketing", True))
    refused = person_refusal(person, marketing)
    if refused:
        return refused
    assert person is not None
    address = str(read.person_email(person.object_name, person.fields)).strip().lower()
    suppressed, consents, topics_off, topic = facts
    code = send_refusal(marketing=marketing, suppression=suppressed.get(address),
                        opted_out=read.opted_out(person.object_name, person.fields),
                        basis=automation.spec.get("consent", "opt_in"), latest_consent=consents.get(address),
                        topic=topic, topics_off=topics_off.get(address, frozenset()))
    return str(SKIP_REASONS.get(code, code)) if code else None


def dry_run(session: Session, automation: Automation, now: datetime, tz: str, page: int = 1) -> DryRun:
    """Evaluate `automation` against the mirror as it is now, without changing anything.

    Every matching record is checked with the real run's rules; `page` (1-based) picks the rows shown.
    """
    rt = Runtime(now=now, tz=tz)
    view = rt.view(session)
    result = DryRun(page=max(1, page))
    trig = automation.spec["trigger"]
    conditions = automation.spec.get("conditions") or []
    mail_action = _first_mail_action(automation)
    matched: list[tuple[Record, Record | None]] = []
    for record in _records(session, result, automation):
        if result.scanned >= SCAN_LIMIT:
            result.capped = True
            break
        result.scanned += 1
        view.put(record)
        if not _matches_trigger(view, trig, record, rt) or failing_condition(view, record, conditions):
            continue
        matched.append((record, view.person_of(record)))
    result.matched = len(matched)
    addresses = [str(read.person_email(p.object_name, p.fields) or "") for _r, p in matched if p is not None]
    facts = (*recipient_facts(session, addresses), topic_optouts(session, addresses),
             current_topic_of(automation.spec.get("topic")))
    start = (result.page - 1) * PAGE_SIZE
    for n, (record, person) in enumerate(matched):
        reason = _exclusion(session, rt, view, automation, record, person, mail_action, facts)
        if reason:
            result.excluded[reason] = result.excluded.get(reason, 0) + 1
        else:
            result.mailed += 1
            if result.mail is None:
                result.mail = _render_first_mail(session, rt, automation, record, person)
        if start <= n < start + PAGE_SIZE:
            result.rows.append({"id": record.id, "object": record.object_name,
                                "person_id": person.id if person else None,
                                "email": (read.person_email(person.object_name, person.fields)
                                          if person else None) or "",
                                "name": (person.fields.get("Name") or person.fields.get("LastName"))
                                if person else record.fields.get("Name") or record.fields.get("Subject"),
                                "excluded": reason or ""})
    if result.mail is None and matched:
        result.mail = _render_first_mail(session, rt, automation, matched[0][0], matched[0][1])
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
