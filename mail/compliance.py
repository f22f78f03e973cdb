"""Suppressions, consent records and unsubscribing (特定電子メール法, RFC 8058).

    suppress(session, address, *, reason, source, person_id=None, details=None) -> bool
    record_consent(session, *, address, granted, source, person_id=None, details=None) -> MailConsent
    unsubscribe_mail(session, mail_id, *, source) -> OutboxMail | None
    resubscribe(session, address, *, person_id, source, consent_text, details=None) -> MailConsent

Unsubscribing suppresses the address for marketing mail, keeps a consent record (withdrawn),
records an 'unsubscribe' activity and writes HasOptedOutOfEmail = true back to the Lead or
Contact through the write-back queue — whatever else already keeps the address on the
suppression list (a manual entry, a bounce): the withdrawal is the person's word and must be on
record even when no mail would go out anyway. Doing it twice changes nothing the second time
(the address's latest consent record is already a withdrawal).

Re-subscribing (the preference centre, reached only through a signed link) records a fresh
opt-in with the text the person was shown, takes the address off the suppression list where the
person's own word put it there (unsubscribe, complaint; never a bounce or an admin's entry) and
writes HasOptedOutOfEmail = false back.

An address is *unsubscribed* while its latest consent record is a withdrawal. Removing another
suppression (e.g. an admin's manual entry) from an unsubscribed address does not lift the
unsubscribe: the entry becomes the unsubscribe it stood in front of (see `unsuppress`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from activity.record import record_activity
from db import insert_for, rows_matched, utcnow
from mail.models import MailConsent, OutboxMail, Suppression
from sync import read
from writeback.models import WritebackItem
from writeback.queue import enqueue

REASONS = ("unsubscribe", "hard_bounce", "soft_bounces", "complaint", "manual")
# Suppressions the person's own word made, which their fresh opt-in lifts.
LIFTED_BY_OPT_IN = ("unsubscribe", "complaint")


def person_object(person_id: str | None) -> str | None:
    """The person object ('Contact', 'Lead', 'Account'…: the person model's) of an id, else None."""
    return read.person_object_of_id(person_id)


def suppress(session: Session, address: str, *, reason: str, source: str, person_id: str | None = None,
             details: dict[str, Any] | None = None) -> bool:
    """Add `address` to the suppression list; False when it was already there."""
    if reason not in REASONS:
        raise ValueError(f"reason must be one of {REASONS}")
    stmt = insert_for(session, Suppression).values(
        address=address.strip().lower(), reason=reason, person_id=person_id, source=source[:64],
        details=details or {}, created_at=utcnow(),
    ).on_conflict_do_nothing(index_elements=["address"]).returning(Suppression.address)
    return session.execute(stmt).scalar() is not None


def unsuppress(session: Session, address: str) -> bool:
    """Take an address off the list (an admin action, e.g. after a fixed typo); True if it was on it.

    An address whose owner unsubscribed stays suppressed for marketing mail: its entry (manual,
    bounce…) is replaced by the unsubscribe, so only a new opt-in can bring marketing mail back.
    """
    address = address.strip().lower()
    row = session.get(Suppression, address)
    withdrawal = latest_consent(session, address)
    if row is not None and withdrawal is not None and not withdrawal.granted:
        if row.reason == "unsubscribe":
            return False
        row.details = {**(row.details or {}), "replaced": {"reason": row.reason, "source": row.source}}
        row.reason, row.source, row.person_id = "unsubscribe", withdrawal.source, withdrawal.person_id or row.person_id
        session.flush()
        return True
    return bool(rows_matched(session, delete(Suppression).where(Suppression.address == address)))


def latest_consent(session: Session, address: str) -> MailConsent | None:
    """The newest consent record (given or withdrawn) of an address."""
    return session.scalar(select(MailConsent).where(MailConsent.address == address.strip().lower())
                          .order_by(MailConsent.occurred_at.desc(), MailConsent.id.desc()).limit(1))


def is_unsubscribed(session: Session, address: str) -> bool:
    """True when the address's latest consent record is a withdrawal."""
    consent = latest_consent(session, address)
    return consent is not None and not consent.granted


def record_consent(session: Session, *, address: str, granted: bool, source: str, person_id: str | None = None,
                   details: dict[str, Any] | None = None) -> MailConsent:
    """Keep a record of consent given or withdrawn (who, when, where)."""
    consent = MailConsent(address=address.strip().lower(), person_id=person_id, granted=granted,
                          source=source[:64], details=details or {}, occurred_at=utcnow())
    session.add(consent)
    session.flush()
    return consent


def opt_out_in_salesforce(session: Session, person_id: str | None, ref: str, opted_out: bool = True) -> None:
    """Queue the opt-out checkbox = `opted_out` for the person (HasOptedOutOfEmail, PersonHasOptedOutOfEmail
    on a Person Account: the person model's field); nothing for other ids."""
    object_name = person_object(person_id)
    field = read.opt_out_field(object_name)
    if object_name is None or person_id is None or field is None:
        return

    # Written after any earlier opt-out/opt-in of ours for this person that is not written yet, so an
    # unsubscribe and a re-subscribe moments apart reach Salesforce in the order the person gave them.
    earlier = session.scalar(
        select(WritebackItem).where(WritebackItem.record_id == person_id, WritebackItem.origin == "mail",
                                    WritebackItem.status.in_(("queued", "running", "failed")))
        .order_by(WritebackItem.id.desc()).limit(1))
    enqueue(session, key=f"mail.{'optout' if opted_out else 'optin'}:{person_id}:{ref}", object_name=object_name,
            operation="update", record_id=person_id, fields={field: opted_out}, origin="mail",
            origin_ref=ref, depends_on=earlier)


def resubscribe(session: Session, address: str, *, person_id: str | None, source: str, consent_text: str,
                details: dict[str, Any] | None = None) -> MailConsent:
    """Record a fresh opt-in (with the text shown) and lift the person's own suppression and opt-out."""
    address = address.strip().lower()
    consent = record_consent(session, address=address, granted=True, source=source, person_id=person_id,
                             details={**(details or {}), "consent_text": consent_text})
    session.execute(delete(Suppression).where(Suppression.address == address,
                                              Suppression.reason.in_(LIFTED_BY_OPT_IN)))
    opt_out_in_salesforce(session, person_id, ref=f"consent-{consent.id}", opted_out=False)
    record_activity(session, "resubscribe", person_id=person_id, details={**(details or {}), "source": source})
    return consent


def unsubscribe_mail(session: Session, mail_id: int, *, source: str) -> OutboxMail | None:
    """Unsubscribe the recipient of outbox mail `mail_id`; None if there is no such mail."""
    mail = session.get(OutboxMail, mail_id)
    if mail is None:
        return None
    # Serialize concurrent unsubscribes of one mail (a one-click POST and the page at once) on
    # its outbox row, so the "already unsubscribed?" check below cannot pass twice.
    session.refresh(mail, with_for_update=True)
    already = is_unsubscribed(session, mail.to_address)
    suppress(session, mail.to_address, reason="unsubscribe", source=source, person_id=mail.person_id,
             details={"mail_id": mail.id, "template_key": mail.template_key})
    if not already:
        consent = record_consent(session, address=mail.to_address, granted=False, source=source,
                                 person_id=mail.person_id, details={"mail_id": mail.id})
        opt_out_in_salesforce(session, mail.person_id, ref=f"consent-{consent.id}")
        record_activity(session, "unsubscribe", person_id=mail.person_id,
                        details={"mail_id": mail.id, "template_key": mail.template_key, "source": source})
    return mail
