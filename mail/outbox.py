"""The outbox contract: put a mail in the durable outbox, exactly once per send key.

    enqueue_mail(session, *, send_key, to, template_key, context, person_id=None, marketing=True,
                 due_at=None, origin="", origin_ref="") -> bool

runs in the caller's transaction and returns False when `send_key` was used before (the mail
is then not queued again, whatever happened to the first one). `context` is JSON merge data
resolved by the caller, e.g. {"person": {...Salesforce fields...}, "links": {...}}; when it has
no "person" and `person_id` is given, the worker merges the mirrored record at send time.
`marketing=False` marks a transactional mail: no unsubscribe footer, and only suppressions for
a hard bounce, repeated soft bounces or an admin's manual block stop it (an unsubscribe does not).
A bad address or an unknown template raises ValueError (InvalidMail).

A test send (mail.testsend) is an outbox row with `origin=TEST_ORIGIN`: the worker prefixes its
subject with TEST_SUBJECT_PREFIX, sends it without tracking and without the consent check (it goes
to a staff member's typed address, not to a customer), and it is never logged, reported or
counted in the frequency cap.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from email.utils import parseaddr
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from config import settings_of
from db import insert_for, rows_matched, utcnow
from mail.models import MailTemplate, OutboxMail

# Plain ASCII addresses, checked without email-validator (the common case, at enqueue rates of
# thousands per second). Dots anywhere in the local part are allowed on purpose: Japanese mobile
# carriers (docomo, au) issued addresses like "taro..yamada.@docomo.ne.jp" that RFC 5322 forbids
# but that their servers deliver to.
_PLAIN = re.compile(
    r"^(?P<local>[A-Za-z0-9._%+\-]{1,64})@(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,63})$"
)


# The origin of a test send, and the subject prefix its recipient sees.
TEST_ORIGIN = "test"
TEST_SUBJECT_PREFIX = "【テスト】"


class InvalidMail(ValueError):
    """A mail that cannot be queued: bad address, unknown template, or bad context."""


def normalize_address(to: str) -> tuple[str, str]:
    """(address, domain) of a deliverable-looking ASCII address; raises InvalidMail."""
    if not isinstance(to, str) or any(ch in to for ch in "\r\n\0<>,;"):
        raise InvalidMail(f"invalid recipient address {to!r}")
    plain = _PLAIN.match(to.strip())
    if plain and len(to.strip()) <= 254:
        domain = plain.group("domain").lower()
        return f"{plain.group('local')}@{domain}", domain
    try:
        info = validate_email(to.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidMail(f"invalid recipient address {to!r}: {exc}") from None
    if not info.ascii_email:
        # Would need SMTPUTF8, which many Japanese carriers' MTAs do not offer.
        raise InvalidMail(f"address {to!r} needs SMTPUTF8, which is not supported")
    address = info.ascii_email
    return address, address.rpartition("@")[2].lower()


def message_id_for(send_key: str, from_address: str) -> str:
    """A Message-ID that depends only on the send key (and the sender's domain)."""
    domain = parseaddr(from_address)[1].rpartition("@")[2] or "localhost"
    return f"<{hashlib.sha256(send_key.encode()).hexdigest()[:40]}@{domain}>"


def _from_address() -> str:
    from flask import has_app_context

    return settings_of().mail_from if has_app_context() else "localhost"


SALESFORCE_LOG_CHOICES = ("task", "campaign_task", "campaign_member", "none")


def _row(send_key: str, to: str, template_key: str, context: Mapping[str, Any], person_id: str | None,
         marketing: bool, due_at: datetime | None, origin: str, origin_ref: str, from_address: str,
         lane: int = 0, salesforce_log: str = "task", campaign_id: str | None = None) -> dict[str, Any]:
    if not send_key or len(send_key) > 200:
        raise InvalidMail("send_key must be 1 to 200 characters")
    if not isinstance(context, Mapping):
        raise InvalidMail("context must be a mapping")
    try:
        json.dumps(context)
    except (TypeError, ValueError) as exc:
        raise InvalidMail(f"context is not JSON-serializable: {exc}") from None
    if due_at is not None and due_at.tzinfo is None:
        raise InvalidMail("due_at must be timezone-aware")
    if salesforce_log not in SALESFORCE_LOG_CHOICES:
        raise InvalidMail(f"salesforce_log must be one of {', '.join(SALESFORCE_LOG_CHOICES)}")
    address, domain = normalize_address(to)
    now = utcnow()
    return {
        "send_key": send_key, "to_address": address, "to_domain": domain, "template_key": template_key,
        "context": dict(context), "person_id": person_id or None, "marketing": bool(marketing),
        "origin": origin[:32], "origin_ref": origin_ref[:200], "message_id": message_id_for(send_key, from_address),
        "status": "queued", "due_at": due_at or now, "attempts": 0, "created_at": now, "unconfirmed": False,
        "lane": 1 if lane else 0, "salesforce_log": salesforce_log, "campaign_id": campaign_id or None,
    }


def _check_templates(session: Session, keys: set[str]) -> None:
    found = set(session.scalars(select(MailTemplate.key).where(MailTemplate.key.in_(keys))))
    missing = keys - found
    if missing:
        raise InvalidMail(f"unknown mail template {sorted(missing)[0]!r}")


def _insert(session: Session, rows: list[dict[str, Any]]) -> int:
    # The Core table, not the ORM entity: the ORM's bulk path cost ~10 ms per call of Python.
    # The rows as parameters (executemany, sent as multi-row INSERTs by SQLAlchemy's "insertmanyvalues"),
    # not .values(rows): the statement compiles once and is cached, where 500 rows of literal
    # values compiled anew for every batch (0.2–0.8 s each, most of a broadcast batch's Python).
    table = OutboxMail.__table__
    stmt = insert_for(session, table).on_conflict_do_nothing(index_elements=["send_key"])
    if session.get_bind().dialect.name == "postgresql":
        # psycopg's own executemany (pipelined): the one-row statement is parsed once, where a
        # RETURNING made it one statement of thousands of parameters the driver parses every time.
        # Its rowcount is the sum over the rows: a send_key already queued counts 0.
        return rows_matched(session, stmt.execution_options(preserve_rowcount=True), rows)
    return len(session.execute(stmt.returning(table.c.id), rows).all())


def enqueue_mail(
    session: Session,
    *,
    send_key: str,
    to: str,
    template_key: str,
    context: Mapping[str, Any],
    person_id: str | None = None,
    marketing: bool = True,
    due_at: datetime | None = None,
    origin: str = "",
    origin_ref: str = "",
    lane: int = 0,
    salesforce_log: str = "task",
    campaign_id: str | None = None,
) -> bool:
    """Queue one mail in the caller's transaction; False when `send_key` was already used.

    `lane=1` marks bulk mail (a broadcast): workers send lane 0 (mail answering one person) first.
    `salesforce_log` says how mail.log_tasks records it in Salesforce: a Task per mail (`task`),
    one Task per person and campaign (`campaign_task`), only the CampaignMember status
    (`campaign_member`, needs `campaign_id`) or nothing (`none`).
    """
    row = _row(send_key, to, template_key, context, person_id, marketing, due_at, origin, origin_ref,
               _from_address(), lane, salesforce_log, campaign_id)
    _check_templates(session, {template_key})
    return _insert(session, [row]) == 1


def recent_marketing_mails(session: Session, to: str, since: datetime) -> int:
    """Marketing mails queued or sent to `to` since `since` (for the per-person frequency cap)."""
    from sqlalchemy import func

    address, _domain = normalize_address(to)
    return session.scalar(select(func.count()).select_from(OutboxMail).where(
        OutboxMail.to_address == address, OutboxMail.created_at >= since, OutboxMail.marketing.is_(True),
        OutboxMail.origin != TEST_ORIGIN, OutboxMail.status.not_in(("skipped", "failed", "bounced")))) or 0


def enqueue_mails(session: Session, mails: Iterable[Mapping[str, Any]], chunk: int = 1000) -> int:
    """Queue many mails at once (keyword dicts of enqueue_mail); returns how many were new."""
    from_address = _from_address()
    rows = [
        _row(m["send_key"], m["to"], m["template_key"], m.get("context", {}), m.get("person_id"),
             m.get("marketing", True), m.get("due_at"), m.get("origin", ""), m.get("origin_ref", ""), from_address,
             m.get("lane", 0), m.get("salesforce_log", "task"), m.get("campaign_id"))
        for m in mails
    ]
    if not rows:
        return 0
    _check_templates(session, {r["template_key"] for r in rows})
    return sum(_insert(session, rows[i:i + chunk]) for i in range(0, len(rows), chunk))
