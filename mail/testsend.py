"""Test sends: a template or an automation step, rendered with sample data, to a named test address.

    check_address(session, typed, confirm_customer=False, sender=None) -> address   (raises TestSendError)
    sample_person(session, typed) -> (Mirror | None, [candidates])           (raises TestSendError)
    send_test(session, *, to, template_key, context, marketing, what, by) -> mail id
    recent_tests(session, what_prefix, limit=20) -> [OutboxMail]

A test mail goes through the real outbox and SMTP path as a row with origin `TEST_ORIGIN`
(mail.outbox), `origin_ref` naming what was tested (`template:<key>` or
`automation:<key>/<step>.<action>`) and no person: the sample person only lends merge data,
and the mail goes to the typed address, never to them. Because of its origin the worker
prefixes the subject with 【テスト】 and sends it without tracking and without the consent check
(mail.sender); it is never logged as activity or in Salesforce (mail.jobs), never counted in
reports or the frequency cap.

Guard rails: the address must be valid and not blocked (hard bounce, admin's block); an address
that belongs to a customer in the mirror and to no staff member needs an explicit confirmation;
each staff member may send TEST_SENDS_PER_WINDOW tests per TEST_WINDOW (counted on the audit
log, which also keeps who sent what to whom).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db import utcnow
from forms.lookup import get_person, search_people
from mail.consent import STOPS_ALL_MAIL
from mail.models import OutboxMail, Suppression
from mail.outbox import TEST_ORIGIN, InvalidMail, enqueue_mail, normalize_address
from people.models import AuditEntry, User
from people.service import audit
from sync.keys import email_key
from sync.read import ids_with_email, person_objects
from web.i18n import gettext as _

# Sensible for a person checking a mail by hand; a script sending hundreds is stopped.
TEST_SENDS_PER_WINDOW = 10
TEST_WINDOW = timedelta(minutes=10)
AUDIT_ACTION = "mail.test_send"

# Built-in sample values, used when no real person is chosen.
SAMPLE_PERSON = {
    "Id": "", "LastName": "見本", "FirstName": "花子", "Name": "見本 花子", "LastNameKana__c": "ミホン",
    "FirstNameKana__c": "ハナコ", "Email": "sample@example.jp", "Phone": "03-0000-0000", "Company": "見本生活協同組合",
    "PostalCode": "100-0001", "State": "東京都", "City": "千代田区", "Street": "千代田1-1",
    "MailingPostalCode": "100-0001", "MailingState": "東京都", "MailingCity": "千代田区", "MailingStreet": "千代田1-1",
}


class TestSendError(ValueError):
    """A test send that cannot go as asked; the message (Japanese) says why."""

    __test__ = False  # not a pytest test class


def check_address(session: Session, typed: str, confirm_customer: bool = False, sender: Any = None) -> str:
    """The normalized test address, or TestSendError with what to do."""
    if not (typed or "").strip():
        raise TestSendError(_("テスト送信先のメールアドレスを入力してください。"))
    try:
        address, _domain = normalize_address(typed.strip())
    except InvalidMail:
        raise TestSendError(_("テスト送信先のメールアドレスの形式が正しくありません。")) from None
    reason = session.scalar(select(Suppression.reason).where(Suppression.address == address.lower()))
    if reason in STOPS_ALL_MAIL:
        raise TestSendError(_("このアドレスには送れません（配信停止リスト: %(reason)s）。", reason=reason))
    staff = session.scalar(select(User.id).where(func.lower(User.email) == address.lower()))
    if staff is None and not confirm_customer \
            and ids_with_email(session, email_key(address), person_objects(), limit=1):
        raise TestSendError(_("%(address)s はお客様のアドレスです。お客様にテストメールを送ってよい場合だけ、"
                              "「お客様のアドレスに送る」にチェックしてください。", address=address))
    if sender is not None:
        since = utcnow() - TEST_WINDOW

        sent = session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == AUDIT_ACTION, AuditEntry.user_id == sender.id, AuditEntry.at >= since)) or 0
        if sent >= TEST_SENDS_PER_WINDOW:
            raise TestSendError(_("テスト送信は %(minutes)s 分間に %(n)s 通までです。"
                                  "しばらく待ってから送ってください。",
                                  minutes=int(TEST_WINDOW.total_seconds() // 60), n=TEST_SENDS_PER_WINDOW))
    return address


def sample_person(session: Session, typed: str) -> tuple[Any, list[dict[str, Any]]]:
    """The mirrored Lead/Contact chosen as sample data: by Id, or the one person a search finds.

    (None, []) when nothing was typed (built-in sample values); (None, candidates) when the
    search found several (the admin picks one); TestSendError when it found nobody.
    """
    typed = (typed or "").strip()
    if not typed:
        return None, []
    if typed.isalnum() and len(typed) in (15, 18):
        record = get_person(session, typed)
        if record is not None:
            return record, []
    found = search_people(session, typed, limit=10)
    if not found:
        raise TestSendError(_("サンプルのお客様「%(q)s」が見つかりません。"
                              "名前・メール・電話番号・ID で探してください。", q=typed[:50]))
    if len(found) == 1:
        return get_person(session, found[0]["id"]), []
    return None, found


def send_test(session: Session, *, to: str, template_key: str, context: dict[str, Any], marketing: bool,
              what: str, by: Any) -> int:
    """Queue one test mail in the caller's transaction (audit-logged); returns its outbox id.

    `what` names what was tested (`template:<key>`, `automation:<key>/<step>.<action>`), `by` is
    the staff member sending it.
    """
    context = {**context, "test_send": {"by": getattr(by, "email", ""), "what": what}}
    key = f"test:{uuid.uuid4().hex}"
    enqueue_mail(session, send_key=key, to=to, template_key=template_key, context=context, person_id=None,
                 marketing=marketing, origin=TEST_ORIGIN, origin_ref=what[:200], lane=0, salesforce_log="none")
    mail_id = session.scalar(select(OutboxMail.id).where(OutboxMail.send_key == key))
    audit(session, AUDIT_ACTION, what[:200], after={"to": to, "template": template_key, "mail_id": mail_id,
                                                    "sample": (context.get("person") or {}).get("Id") or None})
    return int(mail_id or 0)


def recent_tests(session: Session, what_prefix: str, limit: int = 20) -> list[OutboxMail]:
    """The latest test sends of one template or automation (`what` starting with `what_prefix`)."""
    escaped = what_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return list(session.scalars(select(OutboxMail).where(
        OutboxMail.origin == TEST_ORIGIN, OutboxMail.origin_ref.like(escaped + "%", escape="\\"))
        .order_by(OutboxMail.id.desc()).limit(limit)))


def template_context(session: Session, record: Any) -> dict[str, Any]:
    """Merge data of a template test: the sample person with their Account and owner, or built-in values."""
    from mail.templates import context_for_record

    if record is not None:
        return context_for_record(session, record.sf_id)
    return {"person": dict(SAMPLE_PERSON), "account": {"Name": SAMPLE_PERSON["Company"]},
            "owner": {"Name": "担当 太郎", "LastName": "担当", "FirstName": "太郎", "Email": "owner@example.jp"}}
