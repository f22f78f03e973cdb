"""The outbox worker: claim due mails, render, send over pooled SMTP connections, record outcomes.

Row states and why (exactly once):

    queued ──claim──▶ running ──commit point──▶ sending ──250──▶ sent
                         │                        ├──5xx──▶ bounced      (RCPT 5xx: address suppressed)
                         │                        └──4xx──▶ queued again with back-off, or failed
                         └── suppressed / opted out / no consent (mail.consent) ──▶ skipped

'sending' is committed (autocommit, `synchronous_commit = off` on PostgreSQL: we guard against a
worker dying, not the database) after the message body has been written and right before the
final "." of DATA: the only byte that makes the server accept the mail. So:

- a 'running' row whose worker died never got its final "." out: it is claimed again when its
  lease expires and sent (nothing lost);
- a 'sending' row whose worker died may have been accepted by the server. We never send it
  again; `recover_interrupted` marks it 'sent' with `unconfirmed = true` (visible in the admin
  page). The one way to lose a mail is a worker dying in the microseconds between that commit
  returning and the final "." being written; a resend would risk a duplicate every time the
  worker dies while waiting for the 250, which is far more likely. Never twice wins.

Outcomes of a chunk are written together (one executemany) after the chunk; if the worker dies
before that, 'sending' rows are recovered as above.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import timedelta

from flask import Flask
from sqlalchemy import Connection, bindparam, or_, select, update
from sqlalchemy.orm import Session

from config import settings_of
from db import Database, get_db, rows_matched, table_of, utcnow
from mail.bounces import record_smtp_bounces
from mail.compose import Composer
from mail.consent import CONTEXT_KEY, recipient_facts, send_refusal
from mail.models import Claimed, MailTemplate, OutboxMail, SendOutcome
from mail.outbox import TEST_ORIGIN, TEST_SUBJECT_PREFIX
from mail.templates import CompiledTemplate, compiled_for, render
from mail.topics import CONTEXT_KEY as TOPIC_KEY
from mail.topics import topic_of, topic_optouts
from mail.transport import (
    CommitPointRefused,
    ConnectionPool,
    PermanentFailure,
    SmtpConnection,
    SmtpTarget,
    TemporaryFailure,
    UnconfirmedDelivery,
)
from sync import read
from work.claiming import claim_due

log = logging.getLogger(__name__)

RECOVERY_INTERVAL_SECONDS = 15.0
MAX_RETRY_DELAY_SECONDS = 6 * 3600

_T = table_of(OutboxMail)
_MARK_SENDING = (
    update(_T).where(_T.c.id == bindparam("b_id"), _T.c.locked_by == bindparam("b_worker"),
                     _T.c.status == "running")
    .values(status="sending")
)
_FINISH = (
    update(_T)
    .where(_T.c.id == bindparam("b_id"), _T.c.locked_by == bindparam("b_worker"),
           or_(_T.c.status == "running", _T.c.status == "sending"))
    .values(status=bindparam("b_status"), due_at=bindparam("b_due"), attempts=bindparam("b_attempts"),
            smtp_code=bindparam("b_code"), subject=bindparam("b_subject"), last_error=bindparam("b_error"),
            skip_reason=bindparam("b_skip"), sent_at=bindparam("b_sent_at"), unconfirmed=bindparam("b_unconfirmed"),
            locked_by=None, locked_until=None)
)


@dataclass
class DomainLimiter:
    """Token buckets per destination domain (MAIL_DOMAIN_RATES), per worker process."""

    rates: dict[str, int]
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, domain: str) -> float:
        """0 if a mail to `domain` may go now (and take a token), else seconds until one may."""
        rate = self.rates.get(domain)
        if not rate:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(domain, (float(rate), now))
            tokens = min(float(rate), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[domain] = (tokens - 1.0, now)
                return 0.0
            self._buckets[domain] = (tokens, now)
            return (1.0 - tokens) / rate


def claim_lanes(session: Session, worker_id: str, limit: int, lease_seconds: int,
                lanes: tuple[int, ...] = (0, 1)) -> list[OutboxMail]:
    """Claim due mail answering one person (lane 0) first, then bulk mail (lane 1).

    Each lane walks its own (lane, status, due_at) index, so a follow-up queued behind a million
    broadcast mails is claimed by the next batch of any worker: seconds, not the broadcast's length.
    """
    rows: list[OutboxMail] = []
    for lane in lanes:
        if len(rows) < limit:
            rows += claim_due(session, OutboxMail, worker_id, limit - len(rows), lease_seconds,
                              extra_where=(OutboxMail.lane == lane,))
    return rows


def recover_interrupted(session: Session) -> int:
    """Mark 'sending' rows of dead workers as sent-but-unconfirmed (never resent; see module doc)."""
    now = utcnow()
    return rows_matched(session, (
        update(OutboxMail)
        .where(OutboxMail.status == "sending", OutboxMail.locked_until < now)
        .values(status="sent", unconfirmed=True, sent_at=now, locked_by=None, locked_until=None,
                last_error="worker stopped after the final dot, before the reply was recorded: assumed delivered")
        .execution_options(synchronize_session=False)
    )) or 0


class OutboxSender:
    """One per worker process: the SMTP pool, the sending threads and the domain limiter."""

    def __init__(self, app: Flask) -> None:
        settings = settings_of(app)
        self.settings = settings
        self.db: Database = get_db(app)
        self.composer = Composer.from_settings(settings)
        self.pool = ConnectionPool(SmtpTarget.from_settings(settings), settings.mail_smtp_connections)
        self.executor = ThreadPoolExecutor(max_workers=settings.mail_smtp_connections, thread_name_prefix="mail-smtp")
        self.limiter = DomainLimiter(dict(settings.mail_domain_rates))
        self._last_recovery = float("-inf")

    def close(self) -> None:
        """Stop the threads and close the SMTP connections."""
        self.executor.shutdown(wait=True)
        self.pool.close()

    # --- one pass --------------------------------------------------------------------------
    def process(self, worker_id: str, lanes: tuple[int, ...] = (0, 1)) -> int:
        """Claim one batch (of `lanes`) and send it; returns how many rows were claimed."""
        if time.monotonic() - self._last_recovery > RECOVERY_INTERVAL_SECONDS:
            with self.db.transaction() as session:
                recovered = recover_interrupted(session)
            if recovered:
                log.warning("marked %d interrupted mails as sent (unconfirmed)", recovered)
            self._last_recovery = time.monotonic()
        with self.db.transaction() as session:
            rows = claim_lanes(session, worker_id, self.settings.mail_batch_size, self.settings.worker_lease_seconds,
                               lanes)
            claimed = [Claimed(r.id, r.to_address, r.to_domain, r.template_key, dict(r.context), r.person_id,
                               r.marketing, r.message_id, r.attempts, r.due_at, r.origin == TEST_ORIGIN)
                       for r in rows]
        if not claimed:
            return 0
        templates, early = self._prepare(claimed)
        sendable = [c for c in claimed if c.id not in {o.mail.id for o in early}]
        outcomes = list(early)
        if early:
            with self.db.engine.connect() as conn:
                self._finish(conn, early, worker_id)
                conn.commit()
        chunks = [sendable[i::self.pool.size] for i in range(self.pool.size)]
        futures = [self.executor.submit(self._send_chunk, chunk, templates, worker_id) for chunk in chunks if chunk]
        for future in futures:
            outcomes += future.result()
        bounces = [o for o in outcomes if o.status == "bounced"]
        if bounces:
            with self.db.transaction() as session:
                record_smtp_bounces(session, bounces)
        return len(claimed)

    def _prepare(self, claimed: list[Claimed]) -> tuple[dict[str, CompiledTemplate], list[SendOutcome]]:
        """Templates, suppressions, opt-outs, consent and rate limits for a batch: the mails not to send now."""
        early: list[SendOutcome] = []
        with self.db.sessionmaker() as session:
            keys = {c.template_key for c in claimed}
            templates = {row.key: compiled_for(row)
                         for row in session.scalars(select(MailTemplate).where(MailTemplate.key.in_(keys)))}
            suppressed, consents = recipient_facts(session, (c.to for c in claimed))
            topics_off = topic_optouts(session, (c.to for c in claimed if c.marketing))
            person_ids = {c.person_id for c in claimed if c.person_id}
            people = read.records_by_id(session, person_ids)
        now = utcnow()
        for c in claimed:
            person = people.get(c.person_id or "")
            address = c.to.lower()
            # The same rule the automations dry run shows (mail.consent.send_refusal). A test send
            # goes to a staff member's typed address, not to a customer: only what stops every
            # mail (a hard bounce, an admin's block) stops it.
            refused = send_refusal(marketing=c.marketing and not c.test, suppression=suppressed.get(address),
                                   opted_out=not c.test and person is not None
                                   and read.opted_out(person.object_name, person.fields),
                                   basis=c.context.get(CONTEXT_KEY), latest_consent=consents.get(address),
                                   topic=topic_of(c.context.get(TOPIC_KEY), self.settings),
                                   topics_off=frozenset() if c.test else topics_off.get(address, frozenset()))
            if c.template_key not in templates:
                early.append(SendOutcome(c, "failed", error=f"template {c.template_key!r} does not exist"))
            elif refused:
                early.append(SendOutcome(c, "skipped", skip=refused))
            else:
                wait = self.limiter.wait_for(c.domain)
                if wait > 0:
                    # Not an attempt: put it back without counting one.
                    early.append(SendOutcome(c, "queued", due_at=now + timedelta(seconds=wait),
                                             attempts=c.attempts - 1))
                elif person is not None and "person" not in c.context:
                    c.context["person"] = read.merge_fields(person.object_name, person.fields)
        return templates, early

    # --- in a sending thread -----------------------------------------------------------------
    def _send_chunk(self, chunk: list[Claimed], templates: dict[str, CompiledTemplate],
                    worker_id: str) -> list[SendOutcome]:
        outcomes: list[SendOutcome] = []
        smtp = self.pool.acquire()
        try:
            with self.db.engine.connect() as conn:
                postgres = conn.dialect.name == "postgresql"
                if postgres:
                    conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                    conn.exec_driver_sql("SET synchronous_commit TO OFF")
                try:
                    for mail in chunk:
                        outcome = self._send_one(smtp, conn, postgres, mail, templates[mail.template_key], worker_id)
                        if outcome is not None:
                            outcomes.append(outcome)
                    self._finish(conn, outcomes, worker_id)
                    if not postgres:
                        conn.commit()
                finally:
                    if postgres:
                        conn.exec_driver_sql("RESET synchronous_commit")
        finally:
            self.pool.release(smtp)
        return outcomes

    def _send_one(self, smtp: SmtpConnection, conn: Connection, postgres: bool, mail: Claimed,
                  template: CompiledTemplate, worker_id: str) -> SendOutcome | None:
        composer = self.composer
        try:
            unsubscribe = composer.unsubscribe_url(mail.id) if mail.marketing else ""
            preferences = composer.preferences_url(mail.id)
            context = {**mail.context, "mail": {"unsubscribe_url": unsubscribe, "preferences_url": preferences},
                       "sender": composer.sender_context()}
            rendered = render(template, context)
            if mail.test:
                rendered = replace(rendered, subject=TEST_SUBJECT_PREFIX + rendered.subject)
            data = composer.compose(mail_id=mail.id, to=mail.to, message_id=mail.message_id,
                                    marketing=mail.marketing, rendered=rendered, unsubscribe=unsubscribe or None,
                                    preferences=preferences, tracking=not mail.test)
        except Exception as exc:  # a template error is this mail's problem, not the batch's
            return SendOutcome(mail, "failed", error=f"render: {type(exc).__name__}: {exc}"[:2000])

        def commit_point() -> bool:
            marked = conn.execute(_MARK_SENDING, {"b_id": mail.id, "b_worker": worker_id}).rowcount
            if not postgres:
                conn.commit()
            return marked == 1

        try:
            smtp.deliver(composer.envelope_from(mail.id), mail.to, data, commit_point)
        except CommitPointRefused:
            return None
        except UnconfirmedDelivery as exc:
            return SendOutcome(mail, "sent", subject=rendered.subject, unconfirmed=True, error=str(exc)[:2000])
        except PermanentFailure as exc:
            return SendOutcome(mail, "bounced", code=exc.code, subject=rendered.subject, error=str(exc)[:2000],
                               hard_bounce=exc.stage == "rcpt")
        except TemporaryFailure as exc:
            if mail.attempts >= self.settings.mail_max_attempts:
                return SendOutcome(mail, "failed", code=exc.code, subject=rendered.subject, error=str(exc)[:2000])
            delay = min(MAX_RETRY_DELAY_SECONDS, self.settings.mail_retry_base_seconds * 2 ** (mail.attempts - 1))
            return SendOutcome(mail, "queued", code=exc.code, error=str(exc)[:2000],
                               due_at=utcnow() + timedelta(seconds=delay))
        return SendOutcome(mail, "sent", code=250, subject=rendered.subject)

    def _finish(self, conn: Connection, outcomes: list[SendOutcome], worker_id: str) -> None:
        if outcomes:
            now = utcnow()
            conn.execute(_FINISH, [o.params(worker_id, now) for o in outcomes])


def sender_for(app: Flask) -> OutboxSender:
    """The process's OutboxSender for `app`, created on first use."""
    sender = app.extensions.get("tsunagi.mail.sender")
    if sender is None:
        sender = app.extensions.setdefault("tsunagi.mail.sender", OutboxSender(app))
    return sender
