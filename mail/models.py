"""Tables of the mail package: templates, the outbox, suppressions, consent, bounces, the dev inbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db import Base, BigId, utcnow
from work.models import ClaimableMixin

# queued/running come from ClaimableMixin. 'sending' is committed right before the final "."
# of DATA, so a row found 'sending' after its worker died may have been delivered (see sender.py).
STATUSES = ("queued", "running", "sending", "sent", "bounced", "failed", "skipped")
FINAL_STATUSES = ("sent", "bounced", "failed", "skipped")


class MailTemplate(Base):
    """A mail written by an admin: subject, HTML and optional text part (Jinja2, sandboxed)."""

    __tablename__ = "mail_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)
    # None: the text part is generated from the HTML.
    text: Mapped[str | None] = mapped_column(Text)
    # Bumped on every save.
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxMail(ClaimableMixin, Base):
    """One mail to send, exactly once per `send_key`."""

    __tablename__ = "mail_outbox"
    __table_args__ = (
        Index("ix_mail_outbox_due", "status", "due_at"),
        Index("ix_mail_outbox_unlogged", "status", "logged_at"),
        Index("ix_mail_outbox_message_id", "message_id"),
        # Mail answering one person (lane 0) is claimed before bulk mail (lane 1) walking this index.
        Index("ix_mail_outbox_lane_due", "lane", "status", "due_at"),
        # The per-person frequency cap counts an address's recent marketing mail.
        Index("ix_mail_outbox_address", "to_address", "created_at"),
        # The person page and the sent-mail log find one person's mails.
        Index("ix_mail_outbox_person", "person_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    send_key: Mapped[str] = mapped_column(String(200), unique=True)
    to_address: Mapped[str] = mapped_column(String(254))
    to_domain: Mapped[str] = mapped_column(String(253))
    template_key: Mapped[str] = mapped_column(String(100))
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    person_id: Mapped[str | None] = mapped_column(String(18))
    marketing: Mapped[bool] = mapped_column(default=True)
    origin: Mapped[str] = mapped_column(String(32), default="")
    origin_ref: Mapped[str] = mapped_column(String(200), default="")
    # 0: answers one person's action (follow-ups, confirmations); 1: bulk (broadcasts, campaigns).
    lane: Mapped[int] = mapped_column(default=0, server_default="0")
    # How the sent mail is logged in Salesforce: task | campaign_task | campaign_member | none.
    salesforce_log: Mapped[str] = mapped_column(String(16), default="task", server_default="task")
    campaign_id: Mapped[str | None] = mapped_column(String(18))
    # Derived from send_key, so a resend (never intended) would carry the same id.
    message_id: Mapped[str] = mapped_column(String(200))
    # The rendered subject, kept for the Salesforce Task and the admin pages.
    subject: Mapped[str | None] = mapped_column(Text)
    smtp_code: Mapped[int | None]
    # True when the worker died between the final "." and recording the reply (assumed sent).
    unconfirmed: Mapped[bool] = mapped_column(default=False)
    skip_reason: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    # When the 'mail_sent' activity and the Salesforce Task were queued (job mail.log_tasks).
    logged_at: Mapped[datetime | None]


class Suppression(Base):
    """An address no mail goes to (marketing mail, or any mail after a hard bounce)."""

    __tablename__ = "mail_suppressions"

    address: Mapped[str] = mapped_column(String(254), primary_key=True)
    # unsubscribe | hard_bounce | soft_bounces | complaint | manual
    reason: Mapped[str] = mapped_column(String(32))
    person_id: Mapped[str | None] = mapped_column(String(18))
    source: Mapped[str] = mapped_column(String(64), default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MailConsent(Base):
    """A consent given or withdrawn (特定電子メール法: keep until a month after the last mail)."""

    __tablename__ = "mail_consents"
    __table_args__ = (Index("ix_mail_consents_address", "address", "occurred_at"),
                      Index("ix_mail_consents_person", "person_id", "occurred_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    address: Mapped[str] = mapped_column(String(254))
    person_id: Mapped[str | None] = mapped_column(String(18))
    granted: Mapped[bool]
    # Where: form key, "one_click", "unsubscribe_page", "admin", "import"…
    source: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)


class TopicOptOut(Base):
    """A topic of marketing mail (MAIL_TOPICS) one address asked not to receive (the preference centre)."""

    __tablename__ = "mail_topic_optouts"

    address: Mapped[str] = mapped_column(String(254), primary_key=True)
    topic: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_id: Mapped[str | None] = mapped_column(String(18))
    # Where: "preference_centre"…
    source: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BounceCount(Base):
    """Bounces seen per address; soft bounces add up until the address is suppressed."""

    __tablename__ = "mail_bounce_counts"

    address: Mapped[str] = mapped_column(String(254), primary_key=True)
    soft_count: Mapped[int] = mapped_column(default=0)
    hard_count: Mapped[int] = mapped_column(default=0)
    last_status: Mapped[str] = mapped_column(String(16), default="")
    last_at: Mapped[datetime] = mapped_column(default=utcnow)


class DevInboxMessage(Base):
    """A message captured by the built-in development SMTP server (no SMTP_URL set)."""

    __tablename__ = "mail_dev_inbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    mail_from: Mapped[str] = mapped_column(String(254))
    recipients: Mapped[list[Any]] = mapped_column(default=list)
    subject: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[str] = mapped_column(String(200), default="")
    raw: Mapped[bytes] = mapped_column(LargeBinary)


@dataclass(frozen=True)
class Claimed:
    """The fields of a claimed row the sending threads need (plain data, no ORM session)."""

    id: int
    to: str
    domain: str
    template_key: str
    context: dict[str, Any]
    person_id: str | None
    marketing: bool
    message_id: str
    attempts: int
    due_at: datetime
    # A test send (mail.testsend): subject prefixed, no tracking, no consent check.
    test: bool = False


@dataclass
class SendOutcome:
    """What happened to one claimed mail."""

    mail: Claimed
    status: str
    code: int | None = None
    subject: str | None = None
    error: str | None = None
    skip: str | None = None
    due_at: datetime | None = None
    attempts: int | None = None
    unconfirmed: bool = False
    hard_bounce: bool = False

    def params(self, worker_id: str, now: datetime) -> dict[str, Any]:
        """Bind parameters of the finishing UPDATE."""
        return {
            "b_id": self.mail.id, "b_worker": worker_id, "b_status": self.status,
            "b_due": self.due_at or self.mail.due_at, "b_attempts": self.mail.attempts if self.attempts is None
            else self.attempts, "b_code": self.code, "b_subject": self.subject, "b_error": self.error,
            "b_skip": self.skip, "b_sent_at": now if self.status == "sent" else None,
            "b_unconfirmed": self.unconfirmed,
        }
