"""Named statements of the person page and the sent-mail log.

Everything a page shows is chosen and limited in SQL: one person's timeline is a UNION ALL of
the tables that hold what happened to them (each part filtered by the person's id), ordered by
time and cut with LIMIT, paged with a (time, key) cursor so rows sharing a timestamp are never
skipped or shown twice. Mirror fields are read through `sync.read`, never by a loop in Python.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
)

from activity.models import Activity
from automations.models import Automation, Enrollment, PlannedStep
from mail.models import MailConsent, OutboxMail
from scoring.models import PersonScore, ScoreHistory
from sync.read import Mirror, document_text, email_text, field_text, is_person, phone_text

# Activity kinds the timeline shows from the activity table; sends come from the outbox itself.
TIMELINE_ACTIVITY_KINDS = ("mail_open", "mail_click", "mail_bounce", "unsubscribe", "form_submit", "page_view",
                           "campaign_status", "opportunity_stage")
# Salesforce objects whose records about a person (WhoId) are shown as visits and to-dos.
VISIT_OBJECTS = ("Task", "Event")


def person_name(record: Any = Mirror) -> ColumnElement[str]:
    """A Lead's or Contact's name as Japanese write it: 姓 名 (Name when the mirror has it)."""
    return func.coalesce(
        func.nullif(field_text("Name", record), ""),
        func.trim(func.coalesce(field_text("LastName", record), "") + " "
                  + func.coalesce(field_text("FirstName", record), "")))


def person(sf_id: str) -> Select[*tuple[Any, ...]]:
    """The person's card: kind, name, contact details, address parts, score and stage."""
    return (select(Mirror.sf_id, Mirror.object_name, Mirror.is_deleted,
                   person_name().label("name"),
                   email_text().label("email"),
                   phone_text().label("phone"),
                   func.coalesce(field_text("PostalCode"), field_text("MailingPostalCode")).label("postal_code"),
                   func.coalesce(field_text("State"), field_text("MailingState")).label("state"),
                   func.coalesce(field_text("City"), field_text("MailingCity")).label("city"),
                   func.coalesce(field_text("Street"), field_text("MailingStreet")).label("street"),
                   func.coalesce(field_text("Company"), field_text("Account.Name")).label("company"),
                   PersonScore.score, PersonScore.stage)
            .outerjoin(PersonScore, PersonScore.person_id == Mirror.sf_id)
            .where(Mirror.sf_id == sf_id, is_person()[0]))


def names(ids: Iterable[str]) -> Select[str, str]:
    """(sf_id, name) of the mirrored people among `ids`, for pages that list person ids."""
    return (select(Mirror.sf_id, person_name().label("name"))
            .where(Mirror.sf_id.in_(sorted({i for i in ids if i})),
                   is_person()[0]))


def _row(at: Any, key: Any, kind: Any, title: Any = None, detail: Any = None, status: Any = None,
         opened: Any = None, clicked: Any = None, ref: Any = None) -> list[Any]:
    """One timeline part's columns, typed alike on both dialects (UNION needs matching types)."""

    def text(value: Any) -> Any:
        return cast(null() if value is None else value, String)

    return [at.label("at"), text(key).label("key"), literal(kind, String).label("kind"),
            text(title).label("title"), text(detail).label("detail"), text(status).label("status"),
            (cast(null(), Integer) if opened is None else opened).label("opened"),
            (cast(null(), Integer) if clicked is None else clicked).label("clicked"),
            text(ref).label("ref")]


def timeline(person_id: str, email: str | None, before: tuple[datetime, str] | None, limit: int,
             who_id: str | None = None) -> Select[Any]:
    """The person's timeline, newest first: mails, activity, visits, score changes, consent,
    automations (with the time of their next planned step). At most `limit` rows older than `before`.
    `who_id`: the id visits name the person by in WhoId when it is not `person_id` (a Person Account's Contact)."""
    mail_opened = case((select(literal(1)).where(
        Activity.kind == "mail_open", Activity.person_id == person_id,
        document_text(Activity.details, "mail_id") == cast(OutboxMail.id, String)).exists(), 1), else_=0)
    mail_clicked = case((select(literal(1)).where(
        Activity.kind == "mail_click", Activity.person_id == person_id,
        document_text(Activity.details, "mail_id") == cast(OutboxMail.id, String)).exists(), 1), else_=0)
    mails = select(*_row(func.coalesce(OutboxMail.sent_at, OutboxMail.created_at),
                         literal("m") + cast(OutboxMail.id, String), "mail",
                         title=func.coalesce(OutboxMail.subject, OutboxMail.template_key),
                         detail=OutboxMail.skip_reason, status=OutboxMail.status,
                         opened=mail_opened, clicked=mail_clicked, ref=OutboxMail.to_address)
                   ).where(OutboxMail.person_id == person_id)
    activities = select(*_row(Activity.occurred_at, literal("a") + cast(Activity.id, String), "activity",
                              title=func.coalesce(document_text(Activity.details, "title"),
                                                  document_text(Activity.details, "form_key"),
                                                  document_text(Activity.details, "form"),
                                                  document_text(Activity.details, "status")),
                              detail=document_text(Activity.details, "url"), status=Activity.kind)
                        ).where(Activity.person_id == person_id, Activity.kind.in_(TIMELINE_ACTIVITY_KINDS))
    visits = select(*_row(Mirror.system_modstamp, literal("v") + Mirror.sf_id, "visit",
                          title=field_text("Subject"), detail=field_text("Visit_Result__c"),
                          status=Mirror.object_name, ref=field_text("ActivityDate"))
                    ).where(Mirror.object_name.in_(VISIT_OBJECTS), Mirror.is_deleted.is_(False),
                            field_text("WhoId") == (who_id or person_id))
    scores = select(*_row(ScoreHistory.changed_at, literal("s") + cast(ScoreHistory.id, String), "score",
                          title=cast(ScoreHistory.score_before, String) + " → " + cast(ScoreHistory.score_after,
                                                                                       String),
                          detail=ScoreHistory.reason)).where(ScoreHistory.person_id == person_id)
    consent_of = MailConsent.person_id == person_id
    if email:
        consent_of = or_(consent_of, MailConsent.address.in_({email, email.lower()}))
    consents = select(*_row(MailConsent.occurred_at, literal("c") + cast(MailConsent.id, String), "consent",
                            title=MailConsent.address, detail=MailConsent.source,
                            status=case((MailConsent.granted, "granted"), else_="withdrawn"))).where(consent_of)
    automations = select(*_row(Enrollment.enrolled_at, literal("e") + cast(Enrollment.id, String), "automation",
                               title=Automation.name, detail=Enrollment.reason, status=Enrollment.status)
                         ).join(Automation, Automation.id == Enrollment.automation_id
                                ).where(Enrollment.person_id == person_id)
    union = union_all(mails, activities, visits, scores, consents, automations).subquery("timeline")
    stmt = select(union).order_by(union.c.at.desc(), union.c.key.desc()).limit(limit)
    if before is not None:
        at, key = before
        stmt = stmt.where(or_(union.c.at < at, and_(union.c.at == at, union.c.key < key)))
    return stmt


def next_steps(person_id: str) -> Select[str, str, str, datetime | None]:
    """(automation name, enrollment status, next planned step's due time) of the person's entries."""
    return (select(Automation.name, Automation.key, Enrollment.status, func.min(PlannedStep.due_at).label("due_at"))
            .join(Automation, Automation.id == Enrollment.automation_id)
            .outerjoin(PlannedStep, and_(PlannedStep.enrollment_id == Enrollment.id, PlannedStep.status == "queued"))
            .where(Enrollment.person_id == person_id, Enrollment.status == "active")
            .group_by(Automation.name, Automation.key, Enrollment.status, Enrollment.id)
            .order_by(Enrollment.id.desc()).limit(50))


def mail_log(address: str | None, person_id: str | None, automation_key: str | None, before: int | None,
             limit: int) -> Select[*tuple[Any, ...]]:
    """Sent-mail log rows newest first (by id): the mail, the person's name, opened, clicked."""
    opened = case_exists("mail_open")
    clicked = case_exists("mail_click")
    stmt = (select(OutboxMail.id, OutboxMail.to_address, OutboxMail.person_id, OutboxMail.template_key,
                   OutboxMail.subject, OutboxMail.status, OutboxMail.skip_reason, OutboxMail.last_error,
                   OutboxMail.origin, OutboxMail.origin_ref, OutboxMail.created_at, OutboxMail.sent_at,
                   person_name().label("name"), opened.label("opened"), clicked.label("clicked"))
            .outerjoin(Mirror, Mirror.sf_id == OutboxMail.person_id)
            .order_by(OutboxMail.id.desc()).limit(limit))
    if address:
        address = address.strip()
        stmt = stmt.where(OutboxMail.to_address.in_({address, address.lower()}))
    if person_id:
        stmt = stmt.where(OutboxMail.person_id == person_id)
    if automation_key:
        stmt = stmt.where(OutboxMail.origin == "automations",
                          OutboxMail.origin_ref.like(_escape_like(automation_key) + "/%", escape="\\"))
    if before is not None:
        stmt = stmt.where(OutboxMail.id < before)
    return stmt


def case_exists(kind: str) -> ColumnElement[int]:
    """1 when an activity of `kind` points at the outbox row (details.mail_id), else 0."""
    return case((select(literal(1)).where(
        Activity.kind == kind, document_text(Activity.details, "mail_id") == cast(OutboxMail.id, String)).exists(),
        1), else_=0)


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
