"""Admin actions on the error queue: look, fix and resend, or discard; each one audited."""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy.orm import Session

from db import utcnow
from people.service import audit
from web.i18n import gettext as _
from writeback import queries
from writeback.models import WritebackItem
from writeback.queue import ref_target

_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")


class WritebackActionError(ValueError):
    """An admin action cannot be done as asked; the message (translated) says why."""


def counts(session: Session) -> dict[str, int]:
    """Items per status, every status present (0 when none)."""
    found = dict(session.execute(queries.status_counts()).all())
    return {status: int(found.get(status, 0)) for status in ("queued", "running", "written", "failed", "discarded")}


def parse_fields(text: str) -> dict[str, Any]:
    """The fields an admin typed as a JSON object: Salesforce field names to text, numbers, true/false or null."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise WritebackActionError(_("JSONとして読めません: %(error)s", error=str(exc))) from None
    if not isinstance(value, dict) or not value:
        raise WritebackActionError(_("項目は {\"項目名\": 値} の形のJSONオブジェクトで入力してください。"))
    for name, field_value in value.items():
        if not _FIELD_NAME.match(name):
            raise WritebackActionError(_("項目名 %(name)s はSalesforceの項目名ではありません。", name=name))
        is_ref = ref_target(field_value) is not None
        if not (is_ref or field_value is None or isinstance(field_value, str | int | float | bool)):
            raise WritebackActionError(_("項目 %(name)s の値は文字、数値、true/false、null のいずれかにしてください。",
                                         name=name))
    return value


def _failed(session: Session, item_id: int) -> WritebackItem:
    item = session.get(WritebackItem, item_id, with_for_update=True)
    if item is None:
        raise WritebackActionError(_("この書き戻しは見つかりません。"))
    if item.status != "failed":
        raise WritebackActionError(_("この書き戻しはエラーではないため、再送も破棄もできません。"))
    return item


def resend(session: Session, item_id: int, fields: dict[str, Any] | None = None) -> WritebackItem:
    """Put a failed item back in the queue, with corrected fields if given."""
    item = _failed(session, item_id)
    before = {"fields": item.fields, "error_code": item.error_code, "error_message": item.error_message}
    if fields is not None:
        if item.operation == "upsert" and item.external_id_field and not fields.get(item.external_id_field):
            raise WritebackActionError(_("外部ID項目 %(name)s は削除できません。", name=item.external_id_field))
        item.fields = fields
    item.status = "queued"
    item.due_at = utcnow()
    item.attempts = 0
    item.error_code = item.error_message = item.last_error = None
    audit(session, "writeback.resend", f"writeback_item:{item.id}", before=before, after={"fields": item.fields})
    return item


def discard(session: Session, item_id: int) -> WritebackItem:
    """Give up on a failed item; items waiting for it fail too (they could never be written)."""
    item = _failed(session, item_id)
    before = {"status": item.status, "fields": item.fields, "error_code": item.error_code}
    item.status = "discarded"
    for child in session.scalars(queries.waiting_on(item.id)).all():
        child.status = "failed"
        child.error_code = "PARENT_DISCARDED"
        child.error_message = f"the item it depends on (#{item.id}) was discarded"
    audit(session, "writeback.discard", f"writeback_item:{item.id}", before=before, after={"status": "discarded"})
    return item
