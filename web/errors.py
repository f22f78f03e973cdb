"""Error pages: a clear message in the person's language, never a traceback."""

from __future__ import annotations

from flask import Flask, render_template, request
from werkzeug.exceptions import HTTPException

from web.i18n import gettext as _


def _messages() -> dict[int, str]:
    return {
        400: _("リクエストの内容が正しくありません。"),
        403: _("このページを開く権限がありません。"),
        404: _("ページが見つかりません。"),
        405: _("この操作はできません。"),
        413: _("送信された内容が大きすぎます。"),
        429: _("短時間にリクエストが多すぎます。しばらくしてからお試しください。"),
        500: _("サーバーで問題が起きました。時間をおいてもう一度お試しください。"),
    }


def _handle(error: HTTPException):  # type: ignore[no-untyped-def]
    code = error.code or 500
    message = _messages().get(code, error.description or "")
    if request.accept_mimetypes.best == "application/json" or request.path.startswith("/api/"):
        return {"error": message, "status": code}, code
    return render_template("error.html", code=code, message=message), code


def init_errors(app: Flask) -> None:
    """Render HTTP errors with the shell's error page."""
    app.register_error_handler(HTTPException, _handle)
