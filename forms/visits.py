"""A field rep's visit results: one visit per person and day, changed in place, undone for a while.

A rep taps 不在, goes Back and taps again, or taps 在宅 after 不在 by mistake: each tap must not
become another visit Task (and another follow-up mail to the customer). So the visit's idempotency
key is derived from (form, person, local day), not from the rendered page: a second tap finds the
same submission and changes its result instead.

The visit's Task is written to Salesforce only after the undo window (FORMS_VISIT_UNDO_SECONDS):
until then the write-back item stays queued, so 取り消す simply discards it — no Task, so no
follow-up mail either (the absent automation fires on the written Task). A change after the Task
was written becomes a write-back update of that same Task. 取り消す stays offered for the rest of
the day: then the written Task is deleted through write-back and the follow-up mail is stopped
if it has not gone out (forms.follow_up); if it has, the rep is told so.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db import rows_matched, utcnow
from forms import follow_up, service
from forms.models import FormDefinition, Submission
from forms.schema import FieldSpec, FormSpec
from web.i18n import gettext as _
from writeback.models import WritebackItem
from writeback.queue import enqueue

WITHDRAWN = "withdrawn"


class VisitError(Exception):
    """A visit change that cannot be made now (shown to the rep, in Japanese)."""


@dataclass
class VisitOutcome:
    """What a tap did: `new` visit, `updated` result (with the previous one), or `same` result again."""

    submission: Submission
    kind: str
    previous: str | None = None


def visit_key(form_key: str, person_id: str, day: str) -> str:
    """The idempotency key of the visit to `person_id` on `day` (32 hex digits like a page token)."""
    return hashlib.sha256(f"visit:{form_key}:{person_id}:{day}".encode()).hexdigest()[:32]


def main_item(session: Session, sub: Submission) -> WritebackItem | None:
    """The write-back item that creates the visit's Task."""
    ids = [int(i) for i in sub.writeback_item_ids or []]
    return session.get(WritebackItem, ids[0]) if ids else None


def _delay(session: Session, item: WritebackItem, seconds: int) -> None:
    if seconds > 0:
        session.execute(update(WritebackItem).where(WritebackItem.id == item.id, WritebackItem.status == "queued")
                        .values(due_at=utcnow() + timedelta(seconds=seconds)))


def record_visit(session: Session, row: FormDefinition, spec: FormSpec, result_field: FieldSpec,
                 values: dict[str, Any], *, person_id: str, created_by: int | None,
                 undo_seconds: int) -> VisitOutcome:
    """Record (or change) today's visit to `person_id` with the tapped result, in the caller's transaction.

    A second tap the same day changes the one visit: its result and its memo (Description), as
    typed on the visit screen (which shows today's memo, so a tap without editing keeps it).
    """
    key = visit_key(row.key, person_id, service.local_today())
    existing = session.scalar(select(Submission).where(Submission.idempotency_key == key))
    if existing is None:
        accepted = service.accept_submission(session, row, spec, values, token=key, person_id=person_id,
                                             created_by=created_by)
        item = main_item(session, accepted.submission)
        if accepted.created and item is not None:
            _delay(session, item, undo_seconds)
        return VisitOutcome(accepted.submission, "new" if accepted.created else "same")
    name = result_field.name
    before = existing.data or {}
    previous = before.get(name)
    changes = {f.name: values.get(f.name) for f in spec.fields
               if f.write and f.name not in spec.hidden and before.get(f.name) != values.get(f.name)}
    if not changes:
        return VisitOutcome(existing, "same")
    _change_fields(session, existing, changes, undo_seconds)
    existing.data = {k: v for k, v in {**before, **changes}.items() if v is not None}
    existing.updated_at = utcnow()
    return VisitOutcome(existing, "updated", previous if name in changes else None)


def _change_fields(session: Session, sub: Submission, changes: dict[str, Any], undo_seconds: int) -> None:
    """Put changed values on the visit's Task: in the queued create, or as an update of the written Task."""
    item = main_item(session, sub)
    if item is None:
        raise VisitError(_("訪問記録が見つかりません。"))
    queued_fields = {k: v for k, v in {**item.fields, **changes}.items() if v is not None}
    # Conditional on 'queued': a worker that claimed the item meanwhile wins, and we fall through.
    changed = rows_matched(session,
        update(WritebackItem).where(WritebackItem.id == item.id, WritebackItem.status == "queued")
        .values(fields=queued_fields, due_at=utcnow() + timedelta(seconds=undo_seconds)))
    if changed:
        session.expire(item)
        return
    session.refresh(item)
    if item.status == "written" and item.result_id:
        count = len(sub.writeback_item_ids or [])
        change = enqueue(session, key=f"forms:{sub.idempotency_key}:change{count}", object_name=item.object_name,
                         operation="update", fields=changes, record_id=item.result_id,
                         origin="forms", origin_ref=f"{sub.form_key}:{sub.id}")
        sub.writeback_item_ids = [*(sub.writeback_item_ids or []), change.id]
        return
    raise VisitError(_("この訪問記録は Salesforce へ書き込み中です。数秒後にもう一度押してください。"))


def todays_visit(session: Session, form_key: str, person_id: str) -> Submission | None:
    """Today's (not withdrawn) visit to `person_id`, or None."""
    key = visit_key(form_key, person_id, service.local_today())
    return session.scalar(select(Submission).where(Submission.idempotency_key == key))


def can_undo(session: Session, sub: Submission, undo_seconds: int) -> bool:
    """True while the visit's Task is still waiting in the queue inside the undo window."""
    if sub.status == WITHDRAWN or undo_seconds <= 0:
        return False
    item = main_item(session, sub)
    return item is not None and item.status == "queued" and item.due_at > utcnow()


def is_todays(sub: Submission) -> bool:
    """True for a visit made today (local day): only those can still be withdrawn."""
    return bool(sub.person_id) and sub.idempotency_key == visit_key(sub.form_key, sub.person_id or "",
                                                                     service.local_today())


def can_withdraw(session: Session, sub: Submission) -> bool:
    """True for today's visit that is not withdrawn: 取り消す stays offered all day."""
    if sub.status == WITHDRAWN or not is_todays(sub):
        return False
    item = main_item(session, sub)
    return item is not None and item.status in ("queued", "running", "written", "failed")


@dataclass
class Withdrawal:
    """What 取り消す did: whether a written Task is being deleted, and what became of the follow-up mail.

    `mail` is "none" (no follow-up was planned), "stopped" (planned or queued, now never sent) or
    "sent" (it already went out, or is going out right now: it cannot be called back).
    """

    task_deleted: bool = False
    mail: str = "none"


def undo_visit(session: Session, sub: Submission) -> Withdrawal:
    """Withdraw today's visit (raises VisitError when it cannot be withdrawn now).

    Before the Task is written the queued create is simply discarded. After, a write-back delete
    of the Task is queued (exactly once: its key derives from the visit) and the absent follow-up
    the Task started is stopped if its mail has not gone out yet. The keys are renamed after the
    withdrawal so that a new tap the same day records a new visit.
    """
    item = main_item(session, sub)
    if item is None:
        raise VisitError(_("訪問記録が見つかりません。"))
    if not is_todays(sub):
        raise VisitError(_("訪問記録を取り消せるのは訪問した日のうちだけです。"))
    outcome = Withdrawal()
    discarded = rows_matched(session,
        update(WritebackItem).where(WritebackItem.id == item.id, WritebackItem.status == "queued")
        .values(status="discarded", error_message="訪問記録の取り消し"))
    delete = None
    if not discarded:
        session.refresh(item)
        if item.status == "running":
            raise VisitError(_("この訪問記録は Salesforce へ書き込み中です。数秒後にもう一度押してください。"))
        if item.status == "written" and item.result_id:
            # Keyed by the submission: two taps (even racing) delete once; a later visit the same
            # day is another submission, so its own withdrawal is not mistaken for this one.
            delete = enqueue(session, key=f"forms:withdraw:{sub.id}", object_name=item.object_name,
                             operation="delete", fields={}, record_id=item.result_id,
                             origin="forms", origin_ref=f"{sub.form_key}:{sub.id}")
            outcome = Withdrawal(True, follow_up.stop(session, sub.person_id or "", item.result_id))
    for other in session.scalars(select(WritebackItem).where(
            WritebackItem.id.in_([int(i) for i in sub.writeback_item_ids or []]))):
        other.idempotency_key = f"withdrawn:{sub.id}:{other.id}"
        if other.status == "queued":
            other.status = "discarded"
    if delete is not None:
        sub.writeback_item_ids = [*(sub.writeback_item_ids or []), delete.id]
    sub.idempotency_key = f"withdrawn-{sub.id}-{sub.idempotency_key}"[:64]
    sub.status, sub.updated_at = WITHDRAWN, utcnow()
    return outcome
