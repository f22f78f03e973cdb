"""What happened to a submission in Salesforce, said in Japanese, and the mail that waits for it.

The done page polls `/forms/<key>/done/<id>/status` (JSON, see `outcome`) so the operator sees
the write-back succeed or fail while still on the phone with the customer, with Salesforce's
reason in words (e.g. a name longer than the org allows), not only a status code.

A confirmation mail says "we have received your application": it is queued with the submission
but held (`HELD_UNTIL`) until the write-back succeeds, then released; if the write is discarded
the mail is skipped, so a customer is never told something that did not happen.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from db import utcnow
from forms.models import Submission
from mail.models import OutboxMail
from web.i18n import gettext as _

# "Not before the write-back succeeds": far enough never to fall due on its own.
HELD_UNTIL = datetime(9999, 1, 1, tzinfo=UTC)
_MAX_LENGTH = re.compile(r"max length=(\d+)")


def confirmation_key(sub: Submission) -> str:
    """The send key of a submission's confirmation mail (forms.service queues it under this key)."""
    return f"forms:{sub.idempotency_key}:mail"


def follow_confirmation(session: Session, sub: Submission) -> None:
    """Release the held confirmation mail once written; skip it when the write was discarded."""
    held = (OutboxMail.send_key == confirmation_key(sub), OutboxMail.status == "queued")
    if sub.status == "written":
        session.execute(update(OutboxMail).where(*held).values(due_at=utcnow()))
    elif sub.status in ("discarded", "withdrawn"):
        session.execute(update(OutboxMail).where(*held).values(status="skipped",
                                                               last_error="書き込みが取り消されたため送りません"))


def reason(code: str | None, message: str | None) -> str:
    """Salesforce's error as a sentence an operator understands (Japanese UI; English via the catalog)."""
    code, message = code or "", message or ""
    subject = message.split(":", 1)[0].strip() if ":" in message else ""
    if code == "STRING_TOO_LONG":
        limit = _MAX_LENGTH.search(message)
        return _("%(field)s が Salesforce の文字数の上限（%(n)s 文字）を超えています。", field=subject or _("項目"),
                 n=limit.group(1) if limit else "?")
    if code == "REQUIRED_FIELD_MISSING":
        return _("Salesforce で必須の項目が空です: %(m)s", m=message)
    if code == "INVALID_EMAIL_ADDRESS":
        return _("メールアドレスが Salesforce で受け付けられませんでした。")
    if code in ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "BAD_VALUE_FOR_RESTRICTED_PICKLIST"):
        return _("%(field)s の値が Salesforce の選択肢にありません。", field=subject or _("項目"))
    if code == "DUPLICATE_VALUE":
        return _("同じ値のレコードが Salesforce にすでにあります。")
    if code == "FIELD_CUSTOM_VALIDATION_EXCEPTION":
        return _("Salesforce の入力規則に合いません: %(m)s", m=message)
    return _("Salesforce がエラーを返しました（%(code)s）: %(m)s", code=code or "?", m=message)


def outcome(sub: Submission, error_code: str | None = None) -> dict[str, Any]:
    """The JSON the done page polls: status, a sentence to show, and whether it is final."""
    status = sub.status
    if status == "written":
        text = _("Salesforce に書き込みました。")
    elif status == "failed":
        code, _sep, message = (sub.error_message or "").partition(" ")
        text = _("Salesforce に書き込めませんでした。") + " " + reason(error_code or code, message)
    elif status in ("discarded", "withdrawn"):
        text = _("この受付は取り消されました。Salesforce には書き込みません。")
    else:
        text = _("Salesforce へ書き込み中です…")
    return {"id": sub.id, "status": status, "text": text, "final": status != "pending"}
