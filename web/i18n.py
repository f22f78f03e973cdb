"""Languages: Japanese first, English available. Message ids are the Japanese text itself.

The language comes from `?lang=` (remembered in a cookie), then the browser's Accept-Language,
then DEFAULT_LOCALE.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, Response, has_request_context, request
from flask_babel import Babel, get_locale, gettext, lazy_gettext, ngettext

from config import settings_of

__all__ = ["LANGUAGES", "gettext", "init_babel", "lazy_gettext", "ngettext", "select_locale"]

LANGUAGES = ("ja", "en")


def select_locale() -> str:
    """The language of the current request (DEFAULT_LOCALE in CLI commands and jobs)."""
    if not has_request_context():
        return settings_of().default_locale
    chosen = request.args.get("lang") or request.cookies.get("lang")
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES) or settings_of().default_locale


def _remember_language(response: Response) -> Response:
    chosen = request.args.get("lang")
    if chosen in LANGUAGES:
        response.set_cookie("lang", chosen, max_age=365 * 86400, samesite="Lax")
    return response


def init_babel(app: Flask) -> None:
    """Set up Flask-Babel with our translation folder."""
    translations = Path(__file__).resolve().parent.parent / "translations"
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(translations))
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", settings_of(app).timezone)
    Babel(app, locale_selector=select_locale)
    app.jinja_env.globals["get_locale"] = get_locale
    app.after_request(_remember_language)
