"""The preference centre: what one recipient receives, reached only through a signed link.

    preference_state(session, mail, settings) -> State
    consent_text(settings) -> str
    request_link(session, address, now, client) -> bool

Every marketing mail's footer links to /p/<token> (mail.compose); the token names the outbox
mail, so its recipient (and their Lead/Contact) is known without trusting anything typed. There
the person switches topics (MAIL_TOPICS) off and on, stops all marketing mail (as the unsubscribe
link does, HasOptedOutOfEmail written back) or re-subscribes (a fresh opt-in with the text shown).

Somebody without a working link (expired, damaged, deleted mail) types their address on the
invalid-link page; `request_link` then mails that address — never anybody else — a link to its
preference centre, and changes nothing itself. At most one such mail per address per hour goes
out (its send key), and the answer on the page is the same whether the address is known or not.
The form is public, so typing many customers' addresses must not become a way to mail them all:
at most LINK_REQUESTS_PER_CLIENT links an hour go out for one client (an HMAC of its IP) and
LINK_REQUESTS_PER_HOUR in all; past either, nothing is sent and the page still says the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mail.compliance import LIFTED_BY_OPT_IN, latest_consent
from mail.models import MailConsent, OutboxMail, Suppression
from mail.topics import known_topics, topic_optouts
from sync import read
from sync.keys import email_key
from web.i18n import gettext as _

LINK_TEMPLATE = "mail_preferences_link"
LINK_SOURCE = "preference_centre"
LINK_ORIGIN_REF = "preference_link"
# Honest people ask once or twice; these bound what one stranger (or all of them) can make us send.
LINK_REQUESTS_PER_CLIENT = 5
LINK_REQUESTS_PER_HOUR = 200


@dataclass
class State:
    """What the preference centre shows for one address."""

    address: str
    person_id: str | None
    stopped: bool  # no marketing mail at all (unsubscribed, suppressed by their word, or opted out)
    since: datetime | None
    topics: dict[str, str]
    topics_off: set[str] = field(default_factory=set)


def _opted_out_in_salesforce(session: Session, person_id: str | None, consent: MailConsent | None) -> bool:
    """The person's opt-out checkbox (the person model's, e.g. HasOptedOutOfEmail), unless a later
    opt-in of theirs is on its way to Salesforce.

    A re-subscribe queues HasOptedOutOfEmail = false; until the write-back lands the mirror still
    says true, and the page must not ask the person to re-subscribe again.
    """
    if not person_id:
        return False
    row = read.record(session, person_id)
    if row is None or not read.opted_out(row.object_name, row.fields or {}):
        return False
    return not (consent is not None and consent.granted and consent.occurred_at > row.system_modstamp)


def preference_state(session: Session, mail: OutboxMail, settings: Any) -> State:
    """The recipient of `mail`: stopped or not (since when) and the topics they switched off."""
    address = mail.to_address.strip().lower()
    consent: MailConsent | None = latest_consent(session, address)
    suppression = session.get(Suppression, address)
    since = None
    stopped = False
    if consent is not None and not consent.granted:
        stopped, since = True, consent.occurred_at
    elif suppression is not None and suppression.reason in LIFTED_BY_OPT_IN:
        stopped, since = True, suppression.created_at
    elif _opted_out_in_salesforce(session, mail.person_id, consent):
        stopped = True  # opted out in Salesforce itself: no date of ours to show
    return State(address=address, person_id=mail.person_id, stopped=stopped, since=since,
                 topics=known_topics(settings), topics_off=topic_optouts(session, [address]).get(address, set()))


def consent_text(settings: Any) -> str:
    """The sentence a re-subscribing person agrees to (kept with their consent record)."""
    name = settings.mail_sender_name or settings.mail_from
    return _("%(sender)s からのお知らせメール（%(topics)s）を受け取ることに同意します。",
             sender=name, topics="、".join(known_topics(settings).values()))


def _known_address(session: Session, address: str) -> tuple[bool, str | None]:
    """(known, its Lead/Contact): an address a Lead/Contact has (Contact first) or that we have mailed."""
    people = read.ids_with_email(session, email_key(address), ("Contact", "Lead"))
    if people:
        return True, people[0][0]  # "Contact" sorts before "Lead"
    mailed = session.scalar(select(OutboxMail.id).where(OutboxMail.to_address == address).limit(1))
    return mailed is not None, None


def _ensure_template(session: Session) -> None:
    """The built-in template of the link mail, created on first use (an admin may reword it later)."""
    from mail.templates import get_template, save_template

    if get_template(session, LINK_TEMPLATE) is None:
        save_template(
            session, key=LINK_TEMPLATE, name="配信設定のご案内（自動送信）", subject="配信設定のご案内",
            html=("<html><body><p>配信設定（配信停止・テーマの選択・配信の再開）のご依頼を受け付けました。</p>"
                  "<p>次のリンクから手続きしてください。</p>"
                  '<p><a href="{{ mail.preferences_url }}">配信設定を開く</a></p>'
                  "<p>お心当たりのない場合は、このメールを破棄してください。設定は変わりません。</p>"
                  "<p>{{ sender.name }}<br>お問い合わせ: {{ sender.contact }}</p></body></html>"))


def request_link(session: Session, address: str, now: datetime, client: str = "") -> bool:
    """Mail `address` a link to its preference centre when we know it (once an hour at most).

    Returns whether a mail was queued; the caller shows the same page either way (no address
    enumeration), and a request past the hourly limits (per client, in all) queues nothing.
    """
    from mail.outbox import enqueue_mail

    known, person_id = _known_address(session, address)
    if not known or _over_link_limits(session, now, client):
        return False
    _ensure_template(session)
    # Transactional: the person asked for it; the send key makes a second request within the hour a no-op.
    enqueue_mail(session, send_key=f"mail.preferences-link:{address}:{now:%Y%m%d%H}", to=address,
                 template_key=LINK_TEMPLATE, context={}, person_id=person_id, marketing=False,
                 origin="mail", origin_ref=f"{LINK_ORIGIN_REF}:{client}"[:200], salesforce_log="none")
    return True


def _over_link_limits(session: Session, now: datetime, client: str) -> bool:
    """True when the last hour already saw the most link mails one client, or everyone, may cause."""
    from sqlalchemy import func

    recent = (select(func.count()).select_from(OutboxMail)
              .where(OutboxMail.origin == "mail", OutboxMail.created_at >= now - timedelta(hours=1)))
    mine = session.scalar(recent.where(OutboxMail.origin_ref == f"{LINK_ORIGIN_REF}:{client}"[:200])) or 0
    if mine >= LINK_REQUESTS_PER_CLIENT:
        return True
    everyone = session.scalar(recent.where(OutboxMail.origin_ref.like(f"{LINK_ORIGIN_REF}:%"))) or 0
    return everyone >= LINK_REQUESTS_PER_HOUR
