"""Triggers: turn change events, form submissions, dates, broadcasts and score signals into enrollments.

Change events are claimed in id order (FOR UPDATE SKIP LOCKED on PostgreSQL) and marked
processed in the same transaction that plans their steps. Automations are indexed by
(object, field) and (object, 'created'), so an event no automation listens to costs a dict
lookup; the mirror is read in bulk once per batch.

`fire_external(session, trigger_type, record_id, payload)` is the entry point for other
packages: scoring calls `fire_external(session, "score_threshold", person_id,
{"score": new, "previous": old})` when a score changes; every enabled `score_threshold`
automation whose threshold lies in (previous, score] fires once per crossing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from activity import feed
from activity.models import Activity
from automations import timing
from automations.conditions import MirrorView, Record, describe, failing_condition
from automations.engine import Entry, Runtime, enroll, enroll_many, history
from automations.models import Automation, AutomationCursor, Enrollment, FormSubmissionQueue
from automations.queries import enabled_automations, insert_ignoring_duplicates
from forms.models import Submission
from sync import read
from sync.models import INITIAL_LOAD, ChangeEvent
from writeback.models import WritebackItem


class TriggerIndex:
    """Enabled automations by what they listen to."""

    def __init__(self, automations: Iterable[Automation]) -> None:
        self.by_field: dict[tuple[str, str], list[Automation]] = defaultdict(list)
        self.by_created: dict[str, list[Automation]] = defaultdict(list)
        # field_changed triggers with a target value also fire when a record is created holding it
        # (a visit Task entered as 不在 from the start is a change from nothing to 不在).
        self.by_created_value: dict[str, list[Automation]] = defaultdict(list)
        self.by_type: dict[str, list[Automation]] = defaultdict(list)
        for a in automations:
            trig = a.spec["trigger"]
            self.by_type[trig["type"]].append(a)
            if trig["type"] == "field_changed":
                self.by_field[(trig["object"], trig["field"])].append(a)
                if "to" in trig:
                    self.by_created_value[trig["object"]].append(a)
            elif trig["type"] == "record_created":
                self.by_created[trig["object"]].append(a)

    @classmethod
    def load(cls, session: Session) -> TriggerIndex:
        """Index every enabled automation."""
        return cls(session.scalars(enabled_automations()))


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _value_matches(expected: Any, value: Any) -> bool:
    if expected is True:
        return _truthy(value)
    from automations.conditions import check_value

    return check_value("eq", value, expected)


def field_change_matches(trigger: dict[str, Any], old: Any, new: Any, source: str) -> bool:
    """True when a field change old → new (from `source`) fires a field_changed trigger."""
    if source == "writeback" and not trigger.get("include_writeback"):
        return False
    if "to" in trigger and not _value_matches(trigger["to"], new):
        return False
    if "to" in trigger and _value_matches(trigger["to"], old):
        return False  # "became X": already X before is no change
    return "from" not in trigger or _value_matches(trigger["from"], old)


def _stamp(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


def _qualifies(session: Session, rt: Runtime, view: MirrorView, automation: Automation, record: Record,
               why: str) -> bool:
    """True when `record` meets the automation's conditions; otherwise the history says which failed."""
    failed = failing_condition(view, record, automation.spec.get("conditions") or [])
    if failed is not None:
        history(session, automation.id, "not_entered", f"{why} / 条件不一致: {describe(failed)}", record_id=record.id,
                person_id=view.person_id_of(record), now=rt.now)
        return False
    return True


def _fire(session: Session, rt: Runtime, view: MirrorView, automation: Automation, record: Record, *,
          occurrence: str, why: str, start_at: datetime | None = None, extra: dict[str, Any] | None = None) -> bool:
    if not _qualifies(session, rt, view, automation, record, why):
        return False
    return enroll(session, rt, automation, record, occurrence=occurrence, why=why, start_at=start_at,
                  extra=extra) is not None


def process_change_events(session: Session, rt: Runtime, limit: int = 1000, index: TriggerIndex | None = None) -> int:
    """Evaluate up to `limit` unprocessed change events and mark them processed (the caller commits)."""
    rows = session.execute(
        select(ChangeEvent.id, ChangeEvent.object_name, ChangeEvent.record_id, ChangeEvent.kind, ChangeEvent.field,
               ChangeEvent.old_value, ChangeEvent.new_value, ChangeEvent.source, ChangeEvent.occurred_at)
        .where(ChangeEvent.processed_at.is_(None)).order_by(ChangeEvent.id).limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if not rows:
        return 0
    index = index or TriggerIndex.load(session)
    matches: list[tuple[Automation, Any]] = []
    for ev in rows:
        if ev.kind == "updated":
            for a in index.by_field.get((ev.object_name, ev.field or ""), ()):
                if field_change_matches(a.spec["trigger"], ev.old_value, ev.new_value, ev.source):
                    matches.append((a, ev))
        elif ev.kind == "created" and ev.source != INITIAL_LOAD:
            for a in (*index.by_created.get(ev.object_name, ()), *index.by_created_value.get(ev.object_name, ())):
                if ev.source != "writeback" or a.spec["trigger"].get("include_writeback"):
                    matches.append((a, ev))
    if matches:
        superseded = _updated_after_creation(session, matches)
        view = rt.view(session)
        view.load(ev.record_id for _, ev in matches)
        paths = [c["field"] for a, _ in matches for c in a.spec.get("conditions") or []]
        records = [view.get(ev.record_id) for _, ev in matches]
        view.load(view.person_id_of(r) for r in records)
        view.prefetch_related(records, paths)
        # History rows are added to the session and written in one batch at commit: with autoflush
        # each one was its own INSERT before the next query (enrollments and steps are written with
        # Core statements and need no flush to be seen).
        entries: list[Entry] = []
        with session.no_autoflush:
            for automation, ev in matches:
                record = view.get(ev.record_id)
                if record is None or record.is_deleted:
                    continue
                trig = automation.spec["trigger"]
                if ev.kind == "created" and trig["type"] == "field_changed":
                    # The mirror holds the latest value; it is the creation value only if no update
                    # of the field came later (such an update is its own event, and fires on its own).
                    value = record.fields.get(trig["field"])
                    if (ev.record_id, trig["field"]) in superseded or not field_change_matches(trig, None, value,
                                                                                                ev.source):
                        continue
                    why = f"{ev.object_name} 作成時 {trig['field']} = {value!r} ({ev.source})"
                elif ev.kind == "created":
                    why = f"{ev.object_name} 作成 ({ev.source})"
                else:
                    why = f"{ev.object_name}.{ev.field}: {ev.old_value!r} → {ev.new_value!r} ({ev.source})"
                # One change has one SystemModstamp: the same change seen twice has the same occurrence.
                occurrence = f"{trig['type']}:{ev.field or ''}:{_stamp(ev.occurred_at)}"
                if _qualifies(session, rt, view, automation, record, why):
                    entries.append(Entry(automation, record, occurrence, why, extra={"change_event_id": ev.id}))
            enroll_many(session, rt, entries)
    session.execute(update(ChangeEvent).where(ChangeEvent.id.in_([r.id for r in rows]))
                    .values(processed_at=rt.now).execution_options(synchronize_session=False))
    return len(rows)


def _updated_after_creation(session: Session, matches: list[tuple[Automation, Any]]) -> set[tuple[str, str]]:
    """(record, field) pairs of created-event matches whose field was updated after the creation."""
    created = {(ev.record_id, a.spec["trigger"]["field"]): ev.id for a, ev in matches
               if ev.kind == "created" and a.spec["trigger"]["type"] == "field_changed"}
    if not created:
        return set()
    rows = session.execute(select(ChangeEvent.record_id, ChangeEvent.field, ChangeEvent.id).where(
        ChangeEvent.kind == "updated", ChangeEvent.record_id.in_({r for r, _ in created}),
        ChangeEvent.field.in_({f for _, f in created})))
    # (`field` is never None here: the WHERE asked for named fields.)
    return {(r, f) for r, f, event_id in rows if f is not None and (r, f) in created and event_id > created[(r, f)]}


def _submitted_person(session: Session, act: Activity) -> str | None:
    """The person of a submission: known at once, or the Lead/Contact its write-back created."""
    if act.person_id:
        return act.person_id
    submission_id = act.details.get("submission_id")
    if not submission_id:
        return None

    sub = session.get(Submission, submission_id)
    if sub is None or sub.person_id:
        return sub.person_id if sub is not None else None
    for item_id in sub.writeback_item_ids or []:
        item = session.get(WritebackItem, int(item_id))
        if item is not None and item.object_name in read.person_objects() and item.result_id:
            return item.result_id
    return None


# A submission whose person is not yet in Salesforce (the Lead is still being written) is
# retried on later passes for this long, then recorded as unresolved.
PERSON_WAIT = timedelta(hours=6)
# Automations' cursor over the activity table (automation_cursors).
FORM_SUBMISSIONS = "form_submissions"


def process_form_submissions(session: Session, rt: Runtime, limit: int = 200) -> int:
    """Fire form_submitted automations (and those a form names to start) for new form_submit activities.

    Forms record `details = {"form": key, "submission_id": id, "automations": [keys]}`. New
    form_submit activities are first taken into automations' queue (activity.feed); an activity
    leaves it once its person is known, or after PERSON_WAIT.
    """
    cursor = feed.cursor_row(session, AutomationCursor, FORM_SUBMISSIONS, lock="skip")
    if cursor is not None:  # None: another worker is taking in
        feed.take_in(session, cursor, FormSubmissionQueue, kinds=("form_submit",))
    acts = feed.claim(session, FormSubmissionQueue, limit)
    if not acts:
        return 0
    index = TriggerIndex.load(session)
    view = rt.view(session)
    finished: list[int] = []
    for act in acts:
        form_key = act.details.get("form_key") or act.details.get("form")
        wanted = [a for a in index.by_type.get("form_submitted", ()) if a.spec["trigger"]["form"] == form_key]
        named = set(act.details.get("automations") or [])
        wanted += [a for t in index.by_type.values() for a in t if a.key in named and a not in wanted]
        person_id = _submitted_person(session, act) if wanted else None
        person = view.get(person_id)
        if wanted and person is None and rt.now - act.occurred_at < PERSON_WAIT:
            continue  # the person is still being written to Salesforce: try again on a later pass
        for automation in wanted:
            if person is None:
                history(session, automation.id, "not_entered", f"フォーム「{form_key}」: 人が特定できません",
                        record_id=person_id, now=rt.now)
                continue
            _fire(session, rt, view, automation, person, occurrence=f"activity:{act.id}",
                  why=f"フォーム「{form_key}」送信", extra={"activity_id": act.id})
        finished.append(act.id)
    feed.done(session, FormSubmissionQueue, finished)
    return len(finished)


def fire_external(session: Session, trigger_type: str, record_id: str, payload: dict[str, Any],
                  rt: Runtime | None = None) -> int:
    """Fire automations of `trigger_type` for a mirrored record from another package; returns entries made.

    `score_threshold`: payload {"score": float, "previous": float}; fires when the threshold lies in
    (previous, score]. Other types fire unconditionally with occurrence `payload["occurrence"]`.
    Call inside your transaction; idempotent for the same payload. `rt` defaults to the current
    app's (`automations.jobs.runtime()`: TSUNAGI_TIMEZONE and the limits).
    """
    if rt is None:
        from automations.jobs import runtime  # jobs imports this module

        rt = runtime()
    view = rt.view(session)
    record = view.get(record_id)
    if record is None:
        return 0
    entered = 0
    for automation in TriggerIndex.load(session).by_type.get(trigger_type, ()):
        if trigger_type == "score_threshold":
            threshold = automation.spec["trigger"]["threshold"]
            if not float(payload.get("previous") or 0) < threshold <= float(payload.get("score") or 0):
                continue
            occurrence = f"score:{threshold}:{payload.get('occurrence') or rt.now.date().isoformat()}"
            why = f"スコア {payload.get('previous')} → {payload.get('score')}（しきい値 {threshold}）"
        else:
            occurrence, why = str(payload.get("occurrence") or rt.now.isoformat()), trigger_type
        entered += _fire(session, rt, view, automation, record, occurrence=occurrence, why=why)
    return entered


def _marker(session: Session, automation: Automation, subject: str, occurrence: str, now: datetime) -> bool:
    """Claim a one-time planning marker (an enrollment row on a pseudo-subject); False if already taken."""
    return insert_ignoring_duplicates(session, Enrollment, {
        "automation_id": automation.id, "subject_id": subject[:64], "occurrence": occurrence[:100],
        "person_id": None, "status": "finished", "reason": "planning marker", "context": {},
        "enrolled_at": now, "ended_at": now}, ["automation_id", "subject_id", "occurrence"]) is not None


def _records_of(session: Session, object_name: str, extra: Iterable[Any] = ()) -> Iterable[Record]:
    stmt = read.live_records(object_name, by_id=True).where(*extra).execution_options(yield_per=1000)
    for sf_id, fields in session.execute(stmt):
        yield Record(sf_id, object_name, fields or {})


def plan_date_triggers(session: Session, rt: Runtime, grace: timedelta = timedelta(hours=36)) -> int:
    """Enter records whose date-relative moment (date field ± N days at a local time) has come.

    Planning happens once per (automation, date): a marker row makes later ticks skip it. For a
    related date (`Campaign.EndDate` on CampaignMember) the parents are found first, then their
    members, so a tick reads only campaigns whose moment is due.
    """
    entered = 0
    view = rt.view(session)
    for automation in TriggerIndex.load(session).by_type.get("date_relative", ()):
        trig = automation.spec["trigger"]
        today = timing.local_today(rt.now, rt.tz)
        for back in (0, 1, 2):
            day = today - timedelta(days=back)
            target_date = day - timedelta(days=trig["offset_days"])
            moment = timing.date_relative_moment(target_date, trig["offset_days"], trig["at"], rt.tz)
            if not (moment <= rt.now <= moment + grace):
                continue
            path = trig["date_field"]
            if "." in path:
                rel, field = path.split(".", 1)
                parents = [p for p in _records_of(session, rel,
                                                  [read.field_text(field).like(f"{target_date}%")])]
                groups: list[tuple[Record | None, list[ColumnElement[bool]]]] = [
                    (p, [read.field_text(f"{rel}Id") == p.id]) for p in parents]
            else:
                groups = [(None, [read.field_text(path).like(f"{target_date}%")])]
            for parent, where in groups:
                marker_subject = f"date:{parent.id if parent else trig['object']}"
                if not _marker(session, automation, marker_subject, target_date.isoformat(), rt.now):
                    continue
                if parent is not None:
                    view.put(parent)
                for record in _records_of(session, trig["object"], where):
                    view.put(record)
                    view.load([view.person_id_of(record)])
                    entered += _fire(session, rt, view, automation, record,
                                     occurrence=f"date:{target_date.isoformat()}",
                                     why=f"{path} {target_date} {trig['offset_days']:+d}日 {trig['at']}",
                                     start_at=moment)
    return entered


def plan_broadcasts(session: Session, rt: Runtime) -> list[int]:
    """Start every broadcast whose time has come; returns the runs still planning (automations.broadcasts)."""
    from automations.broadcasts import start_due

    return start_due(session, rt, TriggerIndex.load(session).by_type.get("broadcast", []))
