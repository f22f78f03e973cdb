"""Consent at send time (特定電子メール法 第3条): may this marketing mail go to this address?

    send_refusal(marketing=, suppression=, opted_out=, basis=, latest_consent=) -> reason | None
    recipient_facts(session, addresses) -> ({address: suppression reason}, {address: granted})
    latest_consents(session, addresses) -> {address: granted}

`send_refusal` is the one rule the outbox worker applies when it sends and the automations dry
run applies when it says who would get a mail: suppressions, HasOptedOutOfEmail and consent.

Advertising mail needs the recipient's prior opt-in (第3条第1項第1号), recorded as a
`MailConsent` (forms' opt-in box, an import, an admin). The law exempts a few other relations
(第3条第1項第2〜4号): an address the person gave us in writing (e.g. a business card), an
existing business relationship (取引関係), and an address published for business. An automation
or broadcast names the basis it relies on (`consent:` in its YAML); the basis travels in the
mail's context under CONTEXT_KEY so the outbox worker checks it when it sends, not only when a
mail was planned: consent withdrawn in between stops the mail.

Transactional mail (`marketing=False`: confirmations, replies to the person's own action) is not
advertising and needs no consent. A withdrawn consent (the latest record says no) stops
marketing mail whatever basis the sender claims: the law's opt-out (第3条第3項) wins.

A marketing mail also has a topic (mail.topics, MAIL_TOPICS); one whose topic its recipient
switched off in the preference centre is refused (TOPIC_OPT_OUT) while their other topics still go.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mail.models import MailConsent, Suppression
from web.i18n import lazy_gettext as _l

# Suppression reasons that stop every mail; the others (unsubscribe, complaint) stop marketing mail.
STOPS_ALL_MAIL = frozenset({"hard_bounce", "soft_bounces", "manual"})

# The key in an outbox mail's context naming the consent basis; absent means OPT_IN.
CONTEXT_KEY = "consent_basis"
OPT_IN = "opt_in"
# 第3条第1項: 1号 opt-in; 2号 address notified in writing; 3号 business relationship; 4号 published.
BASES = (OPT_IN, "notified_in_writing", "existing_relationship", "published_address")
# skip_reason values (mail_outbox.skip_reason, String(32)).
NO_CONSENT = "no_consent"
CONSENT_WITHDRAWN = "consent_withdrawn"
UNKNOWN_BASIS = "unknown_consent_basis"
TOPIC_OPT_OUT = "topic_opt_out"

# What the admin reads for each outbox status (mail.models.STATUSES).
STATUS_LABELS = {
    "queued": _l("送信待ち"), "running": _l("処理中"), "sending": _l("送信中"), "sent": _l("送信済み"),
    "bounced": _l("バウンス"), "failed": _l("失敗"), "skipped": _l("送信せず"),
}
# What the admin reads for each skip_reason (the worker's reason codes, mail.sender / mail.consent).
SKIP_REASONS = {
    "no_consent": _l("オプトイン同意なし（広告メールには事前の同意が必要です）"),
    "consent_withdrawn": _l("同意撤回済み"),
    "unknown_consent_basis": _l("同意の根拠が不明"),
    "topic_opt_out": _l("このテーマの配信停止（配信設定）"),
    "opted_out": _l("メール配信停止（HasOptedOutOfEmail）"),
    "unsubscribe": _l("配信停止の申し出"),
    "hard_bounce": _l("宛先不明（ハードバウンス）"),
    "soft_bounces": _l("一時的な配信エラーの繰り返し"),
    "complaint": _l("迷惑メール報告"),
    "manual": _l("管理者による停止"),
    "visit_withdrawn": _l("訪問記録の取り消し"),
}


def latest_consents(session: Session, addresses: Iterable[str]) -> dict[str, bool]:
    """The latest consent record's `granted` per lower-cased address (addresses with none are absent)."""
    wanted = {a.strip().lower() for a in addresses if a}
    if not wanted:
        return {}
    rows = session.execute(
        select(MailConsent.address, MailConsent.granted)
        .where(MailConsent.address.in_(wanted))
        .order_by(MailConsent.address, MailConsent.occurred_at, MailConsent.id))
    latest: dict[str, bool] = {}
    for address, granted in rows:
        latest[address] = bool(granted)  # ordered by time: the last one wins
    return latest


def refusal(marketing: bool, basis: Any, latest: bool | None) -> str | None:
    """Why a mail may not go (a skip reason), or None when it may.

    `latest` is the address's latest consent record (True granted, False withdrawn, None none).
    """
    if not marketing:
        return None
    if latest is False:
        return CONSENT_WITHDRAWN
    basis = basis or OPT_IN
    if basis not in BASES:
        return UNKNOWN_BASIS
    if basis == OPT_IN and latest is not True:
        return NO_CONSENT
    return None


def send_refusal(*, marketing: bool, suppression: str | None, opted_out: bool, basis: Any,
                 latest_consent: bool | None, topic: str | None = None,
                 topics_off: Set[str] = frozenset()) -> str | None:
    """Why a mail may not go to its recipient now (a skip reason), or None when it may.

    `suppression` is the address's suppression reason (if listed), `opted_out` the person's
    HasOptedOutOfEmail, `basis` the sender's consent basis, `latest_consent` as in `refusal`,
    `topic` the mail's topic and `topics_off` the topics the recipient switched off.
    """
    if suppression and (marketing or suppression in STOPS_ALL_MAIL):
        return suppression
    if marketing and opted_out:
        return "opted_out"
    if marketing and topic is not None and topic in topics_off:
        return TOPIC_OPT_OUT
    return refusal(marketing, basis, latest_consent)


def recipient_facts(session: Session, addresses: Iterable[str]) -> tuple[dict[str, str], dict[str, bool]]:
    """({address: suppression reason}, {address: latest consent granted}) for lower-cased addresses."""
    wanted = {a.strip().lower() for a in addresses if a}
    if not wanted:
        return {}, {}
    suppressed = dict(session.execute(
        select(Suppression.address, Suppression.reason).where(Suppression.address.in_(wanted))).all())
    return suppressed, latest_consents(session, wanted)
