"""The person page's and the mail log's request parsing and labels."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from persons import queries
from sync import read
from web.i18n import lazy_gettext as _l

PAGE = 50
# Salesforce ids are 15 or 18 letters and digits.
SF_ID = re.compile(r"^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$")
KINDS = {"Lead": _l("リード"), "Contact": _l("取引先責任者"), "Account": _l("個人取引先")}
# What each timeline row is, in words (mail rows by their outbox status, activity rows by kind).
ACTIVITY_LABELS = {
    "mail_open": _l("メール開封"), "mail_click": _l("メール内リンクのクリック"), "mail_bounce": _l("バウンス"),
    "unsubscribe": _l("配信停止"), "form_submit": _l("フォーム送信"), "page_view": _l("ページ閲覧"),
    "campaign_status": _l("キャンペーン状況"), "opportunity_stage": _l("商談フェーズ"),
}
ENROLLMENT_LABELS = {"active": _l("進行中"), "finished": _l("完了"), "exited": _l("終了"), "failed": _l("失敗")}
CONSENT_LABELS = {"granted": _l("同意"), "withdrawn": _l("同意撤回")}
# Where a consent came from (mail.models.MailConsent.source); any other source is a form key.
CONSENT_SOURCES = {"one_click": _l("ワンクリック配信停止"), "unsubscribe_page": _l("配信停止ページ"),
                   "admin": _l("管理者"), "import": _l("インポート"), "preference_centre": _l("配信設定ページ")}
VISIT_LABELS = {"Task": _l("ToDo・訪問"), "Event": _l("行動・訪問")}


class CursorError(ValueError):
    """A `?before=` the page did not make."""


def parse_before(value: str | None) -> tuple[datetime, str] | None:
    """The timeline cursor `<ISO time>|<key>` of the last row shown; None for the first page."""
    if not value:
        return None
    at, _, key = value.partition("|")
    try:
        when = datetime.fromisoformat(at)
    except ValueError as exc:
        raise CursorError(value) from exc
    if not key or len(key) > 40:
        raise CursorError(value)
    # Columns hold UTC; a cursor without an offset is UTC too.
    return (when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)), key


def cursor_of(row: Any) -> str:
    """The `?before=` that continues after `row`."""
    return f"{row.at.isoformat()}|{row.key}"


def person_page(session: Session, sf_id: str, before: tuple[datetime, str] | None) -> dict[str, Any] | None:
    """The card, the person's running automations and one page of the timeline; None if unknown."""
    card = session.execute(queries.person(sf_id)).first()
    if card is None:
        return None
    # Visits of a Person Account name its Contact (PersonContactId) in WhoId.
    who = read.who_ids(session, [sf_id]).get(sf_id)
    rows = session.execute(queries.timeline(sf_id, card.email, before, PAGE + 1, who_id=who)).all()
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    return {"card": card, "rows": rows, "automations": session.execute(queries.next_steps(sf_id)).all(),
            "next": cursor_of(rows[-1]) if more else None}
