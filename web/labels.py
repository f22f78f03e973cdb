"""What every page shows for an internal code: one table of words per concept, one owner each.

Pages never show a status or enum code as it is stored (`queued`, `not_entered`, `field_changed`…):
they write `{{ mail.status|label("mail_status") }}`. A concept whose package already keeps its
words (mail statuses in mail.consent, automation outcomes in automations.labels, …) registers that
table from its `init_app` (`register(app, "mail_status", STATUS_LABELS)`), so each concept has
exactly one table and web/ never imports the packages above it; concepts without an owner of their
own live here.
The raw code may still appear in a `title` attribute or a CSV export, never as the visible text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app

from web.i18n import lazy_gettext as _l

# Queue items (ClaimableMixin: write-back items, Outbound Message notifications, jobs).
WORK_STATUS = {
    "queued": _l("送信待ち"), "running": _l("処理中"), "done": _l("完了"), "written": _l("書き込み済み"),
    "failed": _l("エラー"), "discarded": _l("破棄"), "ignored": _l("対象外（無視）"),
}
# Form submissions (forms.models.SUBMISSION_STATUSES).
SUBMISSION_STATUS = {
    "pending": _l("書き込み待ち"), "written": _l("書き込み済み"), "failed": _l("エラー"),
    "discarded": _l("取り消し"), "withdrawn": _l("撤回"),
}
# Sync cycles (sync.models.SyncRun.outcome).
SYNC_OUTCOME = {
    "running": _l("実行中"), "ok": _l("成功"), "failed": _l("失敗"), "busy": _l("実行中のため省略"),
    "quota": _l("API 上限のため停止"), "partial": _l("一部失敗"),
}
# Why an address is on the suppression list (mail.models.Suppression.reason) and who put it there.
SUPPRESSION_REASON = {
    "hard_bounce": _l("宛先不明（ハードバウンス）"), "soft_bounces": _l("一時的な配信エラーの繰り返し"),
    "complaint": _l("迷惑メール報告"), "unsubscribe": _l("配信停止の申し出"), "manual": _l("管理者が追加"),
}
SUPPRESSION_SOURCE = {
    "smtp": _l("送信サーバーの応答"), "admin": _l("管理者"), "one_click": _l("ワンクリック配信停止"),
    "unsubscribe_page": _l("配信停止ページ"), "sendgrid": _l("SendGrid の通知"), "ses": _l("Amazon SES の通知"),
    "dsn_file": _l("不達通知メール"), "dsn_http": _l("不達通知メール"), "import": _l("インポート"),
}
# Write-back operations (writeback.models.OPERATIONS).
OPERATION = {"create": _l("作成"), "update": _l("更新"), "upsert": _l("作成または更新"), "delete": _l("削除")}

# What a hot-lead hand-off did (scoring.handoff.hand_over, comma-separated on the crossing row).
HANDOFF = {
    "automations": _l("オートメーションを開始"), "mail": _l("担当者にメール"), "task": _l("ToDo を作成"),
    "no-template": _l("メールのテンプレートなし"), "no-owner-mail": _l("担当者のメールアドレスなし"),
}

# Who fills a form in and how it writes (forms.schema.AUDIENCES, MODES).
FORM_AUDIENCE = {"operator": _l("オペレーター（電話受付）"), "sales": _l("営業"), "public": _l("公開（お客様）")}
FORM_MODE = {"create": _l("新規作成"), "update": _l("更新"),
             "match_then_update_or_create": _l("既存のお客様を探して更新、なければ新規作成")}

# The concepts whose words live here; the packages that own theirs add them with `register`.
TABLES: dict[str, Mapping[str, Any]] = {
    "work_status": WORK_STATUS,
    "submission_status": SUBMISSION_STATUS,
    "sync_outcome": SYNC_OUTCOME,
    "suppression_reason": SUPPRESSION_REASON,
    "suppression_source": SUPPRESSION_SOURCE,
    "operation": OPERATION,
    "handoff": HANDOFF,
    "form_audience": FORM_AUDIENCE,
    "form_mode": FORM_MODE,
}


_EXTENSION = "tsunagi.labels"


def register(app: Flask, concept: str, words: Mapping[str, Any]) -> None:
    """Make `words` (code → words) the table of `concept` on `app`; called by the package that owns
    the concept, from its init_app. A concept has one owner: a second, different table is an error."""
    tables: dict[str, Mapping[str, Any]] = app.extensions.setdefault(_EXTENSION, {})
    known = TABLES.get(concept, tables.get(concept))
    if known is not None and known is not words:
        raise ValueError(f"the label concept {concept!r} already has a table")
    tables[concept] = words


def table(concept: str, app: Flask | None = None) -> Mapping[str, Any]:
    """The code → words table of `concept` (KeyError for a concept nobody owns or registered)."""
    if concept in TABLES:
        return TABLES[concept]
    registered: dict[str, Mapping[str, Any]] = (app or current_app).extensions.get(_EXTENSION, {})
    return registered[concept]


def label(code: Any, concept: str) -> str:
    """The words for `code` in the current language; an unknown code (e.g. a form key used as a
    consent source) is shown as it is, an empty one as nothing."""
    if code is None or code == "":
        return ""
    return str(table(concept).get(code, code))
