"""Error pages and response headers: a clear message in the person's language, never a traceback."""

from __future__ import annotations

from flask import Flask, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

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


def _render(code: int, message: str) -> ResponseReturnValue:
    if request.accept_mimetypes.best == "application/json" or request.path.startswith("/api/"):
        return {"error": message, "status": code}, code
    return render_template("error.html", code=code, message=message), code


def _handle(error: HTTPException) -> ResponseReturnValue:
    code = error.code or 500
    return _render(code, _messages().get(code, error.description or ""))


def _handle_csrf(_error: CSRFError) -> ResponseReturnValue:
    # Usually a form left open past its token's lifetime, or cookies blocked: say what to do.
    return _render(400, _("フォームの有効期限が切れたか、送信元を確認できませんでした。"
                          "ページを再読み込みして、もう一度送信してください。"))


def _security_headers(response: Response) -> Response:
    # setdefault: a package may send its own (e.g. a public form meant to be embedded elsewhere
    # sets Content-Security-Policy frame-ancestors, and then no X-Frame-Options is added).
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    # Signed tokens travel in public links' URLs; never leak them to other sites via Referer.
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if "frame-ancestors" not in response.headers.get("Content-Security-Policy", ""):
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    return response


def init_errors(app: Flask) -> None:
    """Render HTTP errors with the shell's error page and add the baseline security headers."""
    app.register_error_handler(CSRFError, _handle_csrf)
    app.register_error_handler(HTTPException, _handle)
    app.after_request(_security_headers)
