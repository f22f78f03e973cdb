"""Bounces: delivery status notifications (RFC 3464) and SMTP refusals seen while sending.

A hard bounce (action 'failed' with a 5.x.x status, or a 5xx answer to RCPT) suppresses the
address for every mail; soft bounces (4.x.x, 'delayed') are counted and suppress the address
after MAIL_SOFT_BOUNCE_LIMIT of them. DSNs arrive over POST /mail/bounces (bearer token) or
`flask --app app mail bounces FILE_OR_MAILDIR…`.

With MAIL_RETURN_PATH set, a DSN delivered to our per-mail bounce address (mail.return_path)
names its mail by the signed tag in that address, Message-ID or not; a DSN to a bounce address
whose tag does not verify is forged or damaged and changes nothing.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from activity.record import record_activity
from db import utcnow
from mail.compliance import suppress
from mail.models import BounceCount, OutboxMail, SendOutcome
from mail.return_path import ReturnPath


class NotADsn(ValueError):
    """The message has no message/delivery-status part."""


@dataclass(frozen=True)
class BounceReport:
    """One recipient's fate in a DSN."""

    recipient: str
    action: str
    status: str
    diagnostic: str
    original_message_id: str
    mail_id: int | None = None  # from a verified bounce address (VERP)
    forged: bool = False  # sent to our bounce address with a tag that does not verify

    @property
    def hard(self) -> bool:
        """Permanent: the address does not work."""
        return self.action == "failed" and self.status.startswith("5")

    @property
    def soft(self) -> bool:
        """Temporary trouble (mailbox full, greylisting, delayed)."""
        return not self.hard and (self.action == "delayed" or (self.action == "failed" and self.status.startswith("4")))


def _address(value: str) -> str:
    # "rfc822; taro@example.jp" → "taro@example.jp"
    return value.partition(";")[2].strip().strip("<>").lower() if ";" in value else value.strip().strip("<>").lower()


def parse_dsn(raw: bytes, return_path: ReturnPath | None = None) -> list[BounceReport]:
    """The per-recipient reports of a DSN; raises NotADsn for anything else.

    `return_path`: the bounce address set-up, to name the mail from the address the DSN went to.
    """
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    mail_id, forged = None, False
    if return_path is not None and (to := return_path.addressed_to(message)) is not None:
        mail_id = return_path.mail_id(to)
        forged = mail_id is None
    blocks: list[Message] | None = None
    original_id = ""
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/delivery-status":
            payload = part.get_payload()
            blocks = [block for block in payload if isinstance(block, Message)] if isinstance(payload, list) else None
        elif kind == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                original_id = str(inner[0].get("Message-ID", "")).strip()
        elif kind == "text/rfc822-headers":
            body = part.get_payload(decode=True)  # bytes: the part is not multipart
            if isinstance(body, bytes):
                headers = HeaderParser().parsestr(body.decode("utf-8", "replace"))
                original_id = str(headers.get("Message-ID", "")).strip()
    if not blocks:
        raise NotADsn("no message/delivery-status part")
    reports = []
    for block in blocks[1:]:  # the first block is about the whole message, the rest one per recipient
        recipient = _address(str(block.get("Final-Recipient") or block.get("Original-Recipient") or ""))
        if not recipient:
            continue
        reports.append(BounceReport(
            recipient=recipient, action=str(block.get("Action", "")).strip().lower(),
            status=str(block.get("Status", "")).strip(),
            diagnostic=" ".join(str(block.get("Diagnostic-Code", "")).split()),
            original_message_id=original_id, mail_id=mail_id, forged=forged,
        ))
    return reports


def _count(session: Session, address: str, hard: bool, status: str) -> BounceCount:
    row = session.get(BounceCount, address)
    if row is None:
        row = BounceCount(address=address, soft_count=0, hard_count=0)
        session.add(row)
    if hard:
        row.hard_count += 1
    else:
        row.soft_count += 1
    row.last_status, row.last_at = status[:16], utcnow()
    session.flush()
    return row


def apply_report(session: Session, report: BounceReport, soft_limit: int, source: str = "dsn") -> str:
    """Record one report: 'hard', 'soft' or 'ignored' (delivered, relayed…)."""
    if report.forged or not (report.hard or report.soft):
        return "ignored"
    mail = None
    recipient = report.recipient
    if report.mail_id is not None:
        mail = session.get(OutboxMail, report.mail_id)
        if mail is not None:
            # The signed envelope sender names the mail we sent: its address is the one that bounced
            # (the report's Final-Recipient may be where a forwarder sent it on).
            recipient = mail.to_address.lower()
    elif report.original_message_id:
        mail = session.scalar(select(OutboxMail).where(OutboxMail.message_id == report.original_message_id))
    person_id = mail.person_id if mail is not None else None
    details: dict[str, Any] = {"status": report.status, "diagnostic": report.diagnostic[:500], "source": source,
                               "hard": report.hard}
    if mail is not None:
        details.update(mail_id=mail.id, template_key=mail.template_key)
    counts = _count(session, recipient, report.hard, report.status)
    if report.hard:
        suppress(session, recipient, reason="hard_bounce", source=source, person_id=person_id, details=details)
        if mail is not None and mail.status == "sent":
            mail.status = "bounced"
            mail.last_error = f"DSN {report.status} {report.diagnostic}"[:2000]
    elif counts.soft_count >= soft_limit:
        suppress(session, recipient, reason="soft_bounces", source=source, person_id=person_id, details=details)
    record_activity(session, "mail_bounce", person_id=person_id, details=details)
    return "hard" if report.hard else "soft"


def apply_dsn(session: Session, raw: bytes, soft_limit: int, source: str = "dsn",
              return_path: ReturnPath | None = None) -> dict[str, int]:
    """Parse and record a DSN; returns counts by outcome."""
    counts = {"hard": 0, "soft": 0, "ignored": 0}
    for report in parse_dsn(raw, return_path):
        counts[apply_report(session, report, soft_limit, source)] += 1
    return counts


def record_smtp_bounces(session: Session, outcomes: Iterable[SendOutcome]) -> None:
    """Bounces the sender saw itself (5xx replies): suppress on RCPT refusals, record activity."""
    for outcome in outcomes:
        address = outcome.mail.to.lower()
        details = {"mail_id": outcome.mail.id, "template_key": outcome.mail.template_key, "code": outcome.code,
                   "diagnostic": (outcome.error or "")[:500], "source": "smtp", "hard": outcome.hard_bounce}
        _count(session, address, True, str(outcome.code or ""))
        if outcome.hard_bounce:
            suppress(session, address, reason="hard_bounce", source="smtp", person_id=outcome.mail.person_id,
                     details=details)
        record_activity(session, "mail_bounce", person_id=outcome.mail.person_id, details=details)
