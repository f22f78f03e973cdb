"""Forms logic, testable without HTTP: definitions, accepting a submission, following its write-back.

Accepting a submission is one local transaction: the Submission row (unique idempotency key
from the rendered form), its write-back items (enqueued by key derived from that idempotency
key), the confirmation mail (send key derived from it) and the `form_submit` activity. Nothing
is sent to Salesforce on the request path; the write-back worker does that later, so a slow or
failing org never loses or delays an entry, and a retried POST finds the same row.

A public form opened from the customer's site carries the browser's web-tracking visitor id: it
is kept on the `form_submit` activity and the visitor is linked to the submission's person only
when that person is proven: named by a signed link (`chosen`), or a new Lead/Contact this very
submission creates (linked once the write-back has created it). A person merely *matched* by
the phone or email someone typed is never linked: anyone can type a stranger's phone number, and
the link would hand the typist's browsing (and score) to that stranger.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from activity.models import Activity
from activity.record import record_activity
from db import utcnow
from forms import describe, outcome, person_fields, queries
from forms.describe import with_describe
from forms.models import FormDefinition, Submission
from forms.schema import FormSpec, parse_spec
from mail.compliance import record_consent
from mail.outbox import InvalidMail, enqueue_mail
from salesforce import describe as describes
from salesforce.dates import local_date
from scoring import progress as scoring_progress
from scoring import tracking
from sync import read
from sync.keys import record_keys
from web.i18n import gettext as _
from writeback.models import WritebackItem
from writeback.queue import enqueue, ref

log = logging.getLogger(__name__)

# Salesforce's limit on external id values in the demo org (Tsunagi_Key__c is Text(64)).
_EXTERNAL_KEY_LENGTH = 64


class FormError(Exception):
    """A submission that cannot be accepted as given (shown to the person, in Japanese)."""


@dataclass
class Accepted:
    """The outcome of accepting: the submission, and whether this call created it."""

    submission: Submission
    created: bool


# --- definitions --------------------------------------------------------------------------

def local_today() -> str:
    """Today's date in the service's time zone (ISO): Salesforce dates such as ActivityDate are local."""
    return local_date(utcnow()).isoformat()


def save_definition(session: Session, spec: FormSpec) -> tuple[FormDefinition, bool]:
    """Create or update the definition with `spec.key`; bump its version when it changed.

    Returns (row, changed).
    """
    doc = spec.to_dict()
    row = session.scalar(queries.definition(spec.key))
    if row is None:
        row = FormDefinition(key=spec.key, title=spec.title, audience=spec.audience,
                             object_name=spec.object, spec=doc, version=1)
        session.add(row)
        session.flush()
        describe.request_describe(session, describe.objects_of(doc))
        return row, True
    if row.spec == doc:
        return row, False
    row.title, row.audience, row.object_name, row.spec = spec.title, spec.audience, spec.object, doc
    row.version += 1
    row.updated_at = utcnow()
    # The org's lengths, required fields and picklists for what the form now writes.
    describe.request_describe(session, describe.objects_of(doc))
    return row, True


def get_definition(session: Session, key: str) -> FormDefinition | None:
    """A definition by key (active or not)."""
    return session.scalar(queries.definition(key))


def effective_spec(session: Session, row: FormDefinition) -> FormSpec:
    """The definition with lengths, required flags and picklists filled from the cached describe."""
    spec = parse_spec(row.spec)
    return with_describe(spec, describes.fields_of(session, spec.object))


# --- accepting ----------------------------------------------------------------------------

def over_rate_limit(session: Session, key: str, limit: int, window_seconds: int) -> bool:
    """True when this client already made `limit` submissions within the window."""
    since = utcnow() - timedelta(seconds=window_seconds)
    return (session.scalar(queries.recent_client_submissions(key, since)) or 0) >= limit


def _resolve_person(session: Session, spec: FormSpec, values: dict[str, Any],
                    chosen_id: str | None, may_match: bool) -> tuple[str | None, str]:
    """(person Id or None, how it was found) for a submission.

    Matching by email/phone/kana happens only when `may_match` (a signed-in operator entered
    it). Anyone can type someone else's phone number into a public form: there a match names
    nobody, the entry becomes a new record (resolution `unverified:<rule>`, left to the
    data-quality duplicates report), and only a signed link (`chosen_id`) attaches it to a person.
    """
    if chosen_id:
        record = session.scalar(queries.person(chosen_id))
        if record is None or read.person_of(record.object_name, record.fields or {}) is None:
            raise FormError(_("選んだお客様が見つかりません。もう一度検索してください。"))
        # A Lead form may update a chosen Contact (and back): see forms.person_fields.
        return chosen_id, "chosen"
    if spec.mode == "update":
        raise FormError(_("更新するお客様を選んでください。"))
    if spec.mode == "match_then_update_or_create":
        found_rule = _single_match(session, spec, values)
        if found_rule is None:
            return None, "new"
        sf_id, rule = found_rule
        return (sf_id, f"matched:{rule}") if may_match else (None, f"unverified:{rule}")
    return None, "new"


def _single_match(session: Session, spec: FormSpec, values: dict[str, Any]) -> tuple[str, str] | None:
    """(Id, rule) of the one mirrored person the form's match rules find, or None."""
    keys = record_keys(spec.object, values, read.person_model())
    rules = queries.match_rules(keys, spec.match)
    if not rules:
        return None
    rows = session.execute(queries.match_candidates(spec.object, rules, keys.get("kana_key"))).all()
    for rule, _column, _value in rules:
        found = [sf_id for sf_id, matched in rows if matched == rule]
        # Two candidates for one rule is ambiguous: updating the wrong customer is worse
        # than a duplicate an admin can merge, so only a single match counts.
        if len(found) == 1:
            return found[0], rule
    return None


def _search_text(values: dict[str, Any], person_id: str | None) -> str:
    parts = [str(v) for v in values.values() if v not in (None, "", True, False)]
    return " ".join([*parts, person_id or ""]).lower()[:4000]


def _enqueue_main(session: Session, spec: FormSpec, sub: Submission, values: dict[str, Any]) -> WritebackItem:
    key = f"forms:{sub.idempotency_key}:main"
    origin: dict[str, Any] = {"origin": "forms", "origin_ref": f"{spec.key}:{sub.id}"}
    if spec.is_person_form and sub.person_id:
        skip = {spec.external_id_field, *spec.create_only}
        fields = {k: v for k, v in values.items() if k not in skip}
        target = _object_of(session, sub.person_id) or spec.object
        if target != spec.object:
            # The caller is the other kind of person (a member on a Lead form): update them as that.
            fields = person_fields.translate(fields, spec.object, target, describes.fields_of(session, target))
        return enqueue(session, key=key, object_name=target, operation="update", fields=fields,
                       record_id=sub.person_id, **origin)
    fields = dict(values)
    if spec.person_field and sub.person_id:
        fields[spec.person_field] = sub.person_id
    if spec.external_id_field:
        # Upsert on our own key: if the response to a create is lost, the retry finds the record
        # Salesforce already made instead of making a second one.
        fields[spec.external_id_field] = f"f-{sub.idempotency_key}"[:_EXTERNAL_KEY_LENGTH]
        return enqueue(session, key=key, object_name=spec.object, operation="upsert", fields=fields,
                       external_id_field=spec.external_id_field, **origin)
    return enqueue(session, key=key, object_name=spec.object, operation="create", fields=fields, **origin)


def _person_ref(session: Session, spec: FormSpec, sub: Submission,
                main: WritebackItem) -> tuple[Any, WritebackItem | None]:
    """The person Id for related records: known now, or a reference to the main item's result."""
    if sub.person_id:
        # A Person Account is named in WhoId / CampaignMember by its Contact (PersonContactId).
        return read.who_ids(session, [sub.person_id]).get(sub.person_id, sub.person_id), None
    if spec.is_person_form:
        # The new person's who-id: a new Person Account's Contact (read back once it is written).
        return ref(main, "who"), main
    return None, None


def _enqueue_actions(session: Session, spec: FormSpec, sub: Submission, main: WritebackItem,
                     values: dict[str, Any]) -> list[WritebackItem]:
    items = []
    who, after = _person_ref(session, spec, sub, main)
    for i, action in enumerate(spec.actions):
        key = f"forms:{sub.idempotency_key}:action{i}"
        origin = {"origin": "forms", "origin_ref": f"{spec.key}:{sub.id}"}
        if action.type == "create_task" and who is not None:
            fields = {"Subject": action.subject, "Status": "Completed",
                      "ActivityDate": local_today(), "WhoId": who, **action.fields}
            items.append(enqueue(session, key=key, object_name="Task", operation="create", fields=fields,
                                 depends_on=after, **origin))
        elif action.type == "add_to_campaign" and who is not None:
            # A Lead is a member as a Lead; a Contact and a Person Account (by its Contact) as a Contact.
            named = spec.object if isinstance(who, dict) else read.person_object_of_id(who)
            id_field = "LeadId" if named == "Lead" else "ContactId"
            fields = {"CampaignId": action.campaign_id, id_field: who, **action.fields}
            if action.status:
                fields["Status"] = action.status
            items.append(enqueue(session, key=key, object_name="CampaignMember", operation="create",
                                 fields=fields, depends_on=after, **origin))
        elif action.type == "confirmation_mail":
            _enqueue_confirmation(session, spec, sub, values, action.template)
        elif action.type == "mail_consent":
            _record_consent(session, spec, sub, values, action.field)
    return items


def _record_consent(session: Session, spec: FormSpec, sub: Submission, values: dict[str, Any], box: str) -> None:
    """Keep the opt-in a person gave by ticking `box` (特定電子メール法: who, when, where, what they read)."""
    if values.get(box) not in (True, "1", "true", "on") or not values.get("Email"):
        return

    box_spec = spec.field(box)
    label = box_spec.label if box_spec is not None else box
    record_consent(session, address=str(values["Email"]), granted=True, source=f"form:{spec.key}"[:64],
                   person_id=sub.person_id,
                   details={"form": spec.title, "submission_id": sub.id, "consent_text": label})


def _object_of(session: Session, sf_id: str | None) -> str | None:
    record = session.scalar(queries.person(sf_id)) if sf_id else None
    return record.object_name if record is not None else None


def _enqueue_confirmation(session: Session, spec: FormSpec, sub: Submission, values: dict[str, Any],
                          template: str) -> None:
    address = values.get("Email")
    if not address and sub.person_id:
        record = session.scalar(queries.person(sub.person_id))
        address = (record.fields or {}).get("Email") if record is not None else None
    if not address:
        return

    try:
        # A confirmation of what the person just asked for is transactional, not marketing mail.
        # Held until the write-back succeeds (forms.outcome): it must not confirm what failed.
        enqueue_mail(session, send_key=outcome.confirmation_key(sub), to=address, template_key=template,
                     context={"person": values, "form": {"key": spec.key, "title": spec.title},
                              "submission": {"id": sub.id}},
                     person_id=sub.person_id, marketing=False, due_at=outcome.HELD_UNTIL,
                     origin="forms", origin_ref=f"{spec.key}:{sub.id}")
    except InvalidMail as exc:
        # The entry itself must never be refused for a mail problem (e.g. the admin has not made
        # the template yet): keep it, and say why no mail went out.
        log.warning("forms: confirmation mail for submission %s not queued: %s", sub.id, exc)
        sub.error_message = f"確認メールを送れません: {exc}"


def accept_submission(session: Session, row: FormDefinition, spec: FormSpec, values: dict[str, Any], *,
                      token: str, person_id: str | None = None, created_by: int | None = None,
                      client: str | None = None, visitor_id: str | None = None) -> Accepted:
    """Record a checked submission and everything it causes, in the caller's transaction.

    The same `token` twice (a double-click, a browser retry, a lost response) returns the first
    submission and adds nothing (nor links anyone). Raises FormError when the person cannot be
    resolved. Only a signed-in submission (`created_by`) is matched to an existing person by
    its values; an anonymous one names a person only through `person_id` from a signed link.
    `visitor_id` (web tracking) is linked to the person when known now; a malformed
    one is dropped.
    """
    existing = session.scalar(queries.submission_by_key(token))
    if existing is not None:
        return Accepted(existing, False)
    resolved, how = _resolve_person(session, spec, values, person_id, may_match=created_by is not None)
    sub = Submission(idempotency_key=token, form_key=row.key, form_version=row.version, data=values,
                     person_id=resolved, resolution=how, status="pending", created_by=created_by,
                     client_key=client, search_text=_search_text(values, resolved))
    session.add(sub)
    try:
        session.flush()
    except IntegrityError:
        # A concurrent request with the same token won the insert (PostgreSQL; SQLite's single
        # writer serializes them): that one is the submission. Nothing else was written yet in
        # this transaction, so rolling it back loses nothing.
        session.rollback()
        existing = session.scalar(queries.submission_by_key(token))
        if existing is None:
            raise
        return Accepted(existing, False)
    written = {k: v for k, v in values.items() if (f := spec.field(k)) is None or f.write}
    main = _enqueue_main(session, spec, sub, written)
    items = [main, *_enqueue_actions(session, spec, sub, main, values)]
    sub.writeback_item_ids = [item.id for item in items]
    automations = [a.automation for a in spec.actions if a.type == "start_automation"]
    visitor = visitor_id if visitor_id and tracking.VISITOR_ID.match(visitor_id) else None
    # Typed by an operator or a field rep: the customer's request, not their own behaviour, so
    # scoring does not count it (a rep tapping 不在 twice must not make a hot lead).
    staff = {"entered_by": "staff"} if created_by is not None else {}
    record_activity(session, "form_submit", person_id=resolved, visitor_id=visitor,
                    details={**staff, "form": row.key, "submission_id": sub.id, "automations": automations,
                             "object": spec.object, "resolution": how})
    if visitor and resolved and proves_person(how):
        tracking.link_visitor(session, visitor, resolved, linked_by="form")
    return Accepted(sub, True)


def proves_person(resolution: str) -> bool:
    """True when a submission's person is proven to be whoever sent it, so their browser may be linked.

    `chosen`: named by a signed link (public forms) or picked by signed-in staff; `new`: a record
    this submission creates, having looked like nobody. A `matched:*` person was only found by what
    was typed (see module doc); an `unverified:*` entry looked like a known person and may yet be
    merged into them by the duplicates review, so its browser is not linked either.
    """
    return resolution in ("chosen", "new")


# --- following the write-back -------------------------------------------------------------

def refresh_status(session: Session, sub: Submission) -> bool:
    """Bring `sub.status` in line with its write-back items; True when it changed."""
    ids = [int(i) for i in sub.writeback_item_ids or []]
    items = {i.id: i for i in session.scalars(select(WritebackItem).where(WritebackItem.id.in_(ids)))} if ids else {}
    statuses = [items[i].status if i in items else "queued" for i in ids]
    main = items.get(ids[0]) if ids else None
    if any(s == "failed" for s in statuses):
        status = "failed"
        failed = next(items[i] for i in ids if i in items and items[i].status == "failed")
        error = f"{failed.error_code or ''} {failed.error_message or ''}".strip()
    elif main is not None and main.status == "discarded":
        status, error = "discarded", None
    elif statuses and all(s in ("written", "discarded") for s in statuses):
        status, error = "written", None
    else:
        status, error = "pending", None
    if main is not None and main.result_id and not sub.person_id and main.object_name in read.person_objects():
        sub.person_id = main.result_id
        _attribute_activity(session, sub)
    if status == sub.status and error == sub.error_message:
        return False
    sub.status, sub.error_message, sub.updated_at = status, error, utcnow()
    if status == "written":
        sub.written_at = utcnow()
    outcome.follow_confirmation(session, sub)
    return True


def _attribute_activity(session: Session, sub: Submission) -> None:
    """Name the person on the submission's form_submit activity, recorded before the person existed.

    A new applicant's Lead only exists once the write-back created it; until then scoring had
    nobody to give the form's points to. Scoring's queue takes the activity back (scoring.progress).
    The browser the form was sent from (its tracking visitor id) is linked to the person now.
    """
    candidates = session.scalars(select(Activity).where(
        Activity.kind == "form_submit", Activity.person_id.is_(None),
        Activity.occurred_at >= sub.created_at - timedelta(minutes=1)))  # (kind, occurred_at) index
    for act in candidates:
        if (act.details or {}).get("submission_id") == sub.id:
            act.person_id = sub.person_id
            session.flush()  # the activity row is locked before it is queued again
            scoring_progress.requeue(session, [act.id])
            if act.visitor_id and sub.person_id and proves_person(sub.resolution or ""):
                tracking.link_visitor(session, act.visitor_id, sub.person_id, linked_by="form")


def refresh_pending(session: Session, limit: int = 200) -> int:
    """Refresh pending and failed submissions; returns how many changed status."""
    return sum(refresh_status(session, sub) for sub in session.scalars(queries.pending_submissions(limit)))
