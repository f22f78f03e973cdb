"""`flask --app app mail …`: the development inbox and DSN intake from files or a Maildir."""

from __future__ import annotations

import threading
from pathlib import Path

import click
from flask.cli import AppGroup

from config import settings_of
from web import current_application

mail_cli = AppGroup("mail", help="Mail delivery.")


@mail_cli.command("inbox")
@click.option("--port", type=int, default=None, help="Default: DEV_INBOX_PORT.")
def inbox_command(port: int | None) -> None:
    """Run the development SMTP inbox until interrupted (debug mode, and only when SMTP_URL is empty)."""
    from config.production import is_development

    app = current_application()
    if not is_development(app):
        raise click.ClickException("the dev inbox is for development (TSUNAGI_DEBUG=1); production uses SMTP_URL")
    from mail.devinbox import start_dev_inbox

    if settings_of(app).smtp_url:
        raise click.ClickException("SMTP_URL is set: mail goes to a real server, not the dev inbox")
    controller = start_dev_inbox(app, port=port)
    click.echo(f"dev inbox listening on 127.0.0.1:{controller.port}; open /admin/mail/inbox")
    stop = threading.Event()
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


def _message_files(paths: tuple[str, ...]) -> list[Path]:
    found: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():  # a Maildir (cur/, new/) or a plain folder of .eml files
            found += sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            found.append(path)
        else:
            raise click.BadParameter(f"{name} does not exist")
    return found


@mail_cli.command("bounces")
@click.argument("paths", nargs=-1, required=True)
def bounces_command(paths: tuple[str, ...]) -> None:
    """Record DSNs from message files or Maildir folders (non-DSN messages are skipped)."""
    import db
    from mail.bounces import NotADsn, apply_dsn
    from mail.return_path import ReturnPath

    settings = settings_of()
    limit, return_path = settings.mail_soft_bounce_limit, ReturnPath.from_settings(settings)
    totals = {"hard": 0, "soft": 0, "ignored": 0, "not_dsn": 0}
    for path in _message_files(paths):
        try:
            with db.transaction() as session:
                for key, value in apply_dsn(session, path.read_bytes(), limit, source="dsn_file",
                                                    return_path=return_path).items():
                    totals[key] += value
        except NotADsn:
            totals["not_dsn"] += 1
    click.echo(" ".join(f"{k}={v}" for k, v in totals.items()))
