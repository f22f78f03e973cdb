"""What the admin pages show for automations' codes: history outcomes and trigger types, in words."""

from __future__ import annotations

from typing import Any

from web.i18n import lazy_gettext as _l

OUTCOMES = {
    "fired": _l("開始"), "not_entered": _l("対象外"), "planned": _l("予定"), "sent": _l("実行"),
    "skipped": _l("スキップ"), "exited": _l("終了"), "failed": _l("失敗"), "finished": _l("完了"),
}
TRIGGERS = {
    "field_changed": _l("項目の変更"), "record_created": _l("レコード作成"), "form_submitted": _l("フォーム送信"),
    "date_relative": _l("日付"), "score_threshold": _l("スコア到達"), "broadcast": _l("一斉配信"),
    "manual": _l("手動・他から開始"),
}


def labels() -> dict[str, Any]:
    """Template helpers `outcome_label(code)` and `trigger_label(code)` (unknown codes shown as they are)."""
    return {"outcome_label": lambda code: OUTCOMES.get(code, code),
            "trigger_label": lambda code: TRIGGERS.get(code, code)}
