"""Stop the follow-up a withdrawn visit's Task started (the absent mail), or say it already went out.

The absent follow-up is an automation whose subject is the visit Task (automations/examples/
absent_follow_up.yaml): its enrollment has subject_id = the Task Id, its planned steps carry the
plan keys that are also the outbox send keys' origin_ref. Withdrawing the visit ends those
enrollments, marks their planned steps exited and their queued mails skipped; a mail already
claimed by a worker (running, sending) or sent cannot be called back and is reported as sent.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db import rows_matched, utcnow
from mail.models import OutboxMail

REASON = "訪問記録の取り消し"
# mail_outbox.skip_reason of a mail stopped this way (labelled in mail.consent.SKIP_REASONS).
SKIP_REASON = "visit_withdrawn"
_GONE = ("running", "sending", "sent", "bounced")


def stop(session: Session, person_id: str, task_id: str) -> str:
    """End the automations the Task `task_id` started for `person_id`; "none", "stopped" or "sent".

    Found through indexed columns only (enrollments and outbox mails by person), in the caller's
    transaction.
    """
    from automations.models import Enrollment, PlannedStep

    now = utcnow()
    enrollments = list(session.scalars(select(Enrollment).where(
        Enrollment.person_id == person_id, Enrollment.subject_id == task_id)))
    if not enrollments:
        return "none"
    ids = [e.id for e in enrollments]
    for enrollment in enrollments:
        if enrollment.status == "active":
            enrollment.status, enrollment.reason, enrollment.ended_at = "exited", REASON, now
    stopped = rows_matched(session,
        update(PlannedStep).where(PlannedStep.enrollment_id.in_(ids), PlannedStep.status == "queued")
        .values(status="exited", reason=REASON, done_at=now).execution_options(synchronize_session=False))
    keys = [k[:200] for k in session.scalars(select(PlannedStep.plan_key).where(PlannedStep.enrollment_id.in_(ids)))]
    mails = select(OutboxMail.id).where(OutboxMail.person_id == person_id, OutboxMail.origin == "automations",
                                        OutboxMail.origin_ref.in_(keys))
    stopped += rows_matched(session,
        update(OutboxMail).where(OutboxMail.id.in_(mails), OutboxMail.status == "queued")
        .values(status="skipped", skip_reason=SKIP_REASON).execution_options(synchronize_session=False)
    )
    gone = session.scalar(select(OutboxMail.id).where(OutboxMail.id.in_(mails), OutboxMail.status.in_(_GONE))
                          .limit(1))
    # A step a worker is running right now may be queuing its mail as we speak: say it went out.
    running = session.scalar(select(PlannedStep.id).where(PlannedStep.enrollment_id.in_(ids),
                                                          PlannedStep.status == "running").limit(1))
    if gone is not None or running is not None:
        return "sent"
    return "stopped" if stopped else "none"
