"""Production refuses a demo configuration.

`make run` works with nothing configured: a SQLite file, the local dev org, the dev inbox, an
http:// URL on localhost and a generated secret. Those defaults must never reach customers by
accident, so outside debug mode (TSUNAGI_DEBUG off) the release step, `flask --app app config
check`, fails naming every such setting; the long-running processes log the same findings as
warnings when they start. See docs/operations.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from config import settings_of
from config.settings import Settings, StartupError

if TYPE_CHECKING:
    from flask import Flask

# 32 characters of token_urlsafe carry 192 bits; anything shorter is guessable or a placeholder.
MIN_SECRET_KEY_LENGTH = 32


def demo_settings(settings: Settings) -> list[str]:
    """What in `settings` is a development default unfit for production, one sentence each."""
    problems = []
    if len(settings.secret_key) < MIN_SECRET_KEY_LENGTH:
        problems.append(f"SECRET_KEY is shorter than {MIN_SECRET_KEY_LENGTH} characters "
                        "(python -c 'import secrets; print(secrets.token_urlsafe(48))' makes one)")
    if settings.uses_sqlite and not settings.allow_sqlite:
        problems.append("DATABASE_URL is SQLite: set a postgresql:// URL (or ALLOW_SQLITE=1 for one machine)")
    if not settings.salesforce_configured:
        problems.append("no Salesforce org is configured (SALESFORCE_INSTANCE_URL / SALESFORCE_CLIENT_ID / "
                        "SALESFORCE_USERNAME): the local dev org is for development only")
    if not settings.public_base_url.startswith("https://"):
        problems.append("PUBLIC_BASE_URL must start with https:// (links in mail and session cookies)")
    if not settings.smtp_url:
        problems.append("SMTP_URL is empty: the dev inbox is for development only")
    return problems


def is_development(app: Flask) -> bool:
    """True in debug mode and under tests: only then are the dev org and the dev inbox loaded."""
    return bool(settings_of(app).debug or app.testing)


def check_production(settings: Settings) -> None:
    """Raise StartupError listing every demo setting, unless in debug mode."""
    if settings.debug:
        return
    problems = demo_settings(settings)
    if problems:
        raise StartupError("not fit for production (TSUNAGI_DEBUG is off): " + "; ".join(problems))
