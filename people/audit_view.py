"""How the audit log reads to an admin: each action in words, and what changed as key: before → after.

    AUDIT_ACTIONS: action code → words (web.labels concept "audit_action")
    changes(before, after) -> list[Change]

The stored before/after documents stay as they are (and the page keeps them under すべて表示); what
the table shows first is only the keys whose value changed, so a role change reads
「role: operator → sales」 instead of two JSON objects to compare by eye.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from web.i18n import lazy_gettext as _l

AUDIT_ACTIONS = {
    "user.create": _l("ユーザーの追加"), "user.update": _l("ユーザーの変更"),
    "user.set_password": _l("パスワードの設定"),
    "automation.create": _l("オートメーションの作成"), "automation.update": _l("オートメーションの変更"),
    "automation.enable": _l("オートメーションの有効化"), "automation.disable": _l("オートメーションの停止"),
    "automation.approval_request": _l("一斉配信の承認依頼"), "automation.approve": _l("一斉配信の承認"),
    "automation.approval_void": _l("一斉配信の承認の取り消し"),
    "automations.create_segment": _l("セグメントの作成"), "automations.update_segment": _l("セグメントの変更"),
    "mail.save_template": _l("メールテンプレートの保存"), "mail.test_send": _l("テスト送信"),
    "mail.suppress": _l("配信停止リストへの追加"), "mail.unsuppress": _l("配信停止リストからの削除"),
    "forms.definition.save": _l("フォーム定義の保存"), "scoring.import_model": _l("スコアリングモデルの取り込み"),
    "reports.not_duplicate": _l("重複ではないと判定"),
    "writeback.resend": _l("書き戻しの再送"), "writeback.discard": _l("書き戻しの破棄"),
    "webhooks.retry_failed": _l("Outbound Message の再試行"),
}
_MAX_VALUE = 120  # characters of one value in the table; the whole document is under すべて表示


@dataclass(frozen=True)
class Change:
    """One changed key ("" for a document that is not a mapping), its value before and after, as text."""

    key: str
    before: str
    after: str


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool | int | float):
        text = json.dumps(value)
    else:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= _MAX_VALUE else text[:_MAX_VALUE - 1] + "…"


def changes(before: Any, after: Any) -> list[Change]:
    """The keys whose value differs between `before` and `after` (a created or removed thing: all its keys)."""
    if isinstance(before, dict | type(None)) and isinstance(after, dict | type(None)) and (before or after):
        old, new = before or {}, after or {}
        return [Change(str(key), _text(old.get(key)), _text(new.get(key)))
                for key in sorted({*old, *new}, key=str) if old.get(key) != new.get(key)]
    if before == after:
        return []
    return [Change("", _text(before), _text(after))]
