"""Start-up checks of the long-running processes (web, clock, worker, release).

`create_app()` checks the settings but never connects to the database: tests, the CLI and
`flask db upgrade` must be able to build an app before a database exists. The process entry
points call `check_database` instead, so a wrong or unreachable DATABASE_URL stops them at once
with one line (`tsunagi: DATABASE_URL=… cannot be opened: …`) rather than a traceback on the
first request or job. See docs/configuration.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from config.settings import Settings, StartupError, load_settings

# The Flask instance folder of the `app` module (Flask puts it beside a top-level module).
INSTANCE_PATH = Path(__file__).resolve().parent.parent / "instance"
CONNECT_TIMEOUT_SECONDS = 5


def _shown_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def check_database(url: str) -> None:
    """Open a connection and run `SELECT 1`; raise StartupError naming DATABASE_URL if that fails."""
    from db import create_db_engine

    kwargs = {} if url.startswith("sqlite") else {"connect_args": {"connect_timeout": CONNECT_TIMEOUT_SECONDS}}
    try:
        engine = create_db_engine(url, **kwargs)
    except (ArgumentError, ImportError, ValueError) as exc:
        raise StartupError(f"DATABASE_URL={_shown_url(url)} is not usable: {exc}") from None
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        raise StartupError(
            f"DATABASE_URL={_shown_url(url)} cannot be opened: {reason[0] if reason else type(exc).__name__}"
        ) from None
    finally:
        engine.dispose()


def check(settings: Settings) -> None:
    """Every start-up check that needs more than parsing the settings."""
    check_database(settings.database_url)


def check_process_or_exit() -> Settings:
    """For entry points outside click (gunicorn's master): check, or print one line and exit 2."""
    try:
        settings = load_settings(instance_path=INSTANCE_PATH)
        check(settings)
    except StartupError as exc:
        print(f"tsunagi: {exc.format_message()}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    return settings
