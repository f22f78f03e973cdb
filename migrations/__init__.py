"""Schema migrations (Alembic): `flask db upgrade` applies every branch head.

Each package keeps its own branch of revisions (branch label = package name) growing from
`core_0001`, so packages can add tables without fighting over one linear history.
"""

from __future__ import annotations

from pathlib import Path

import click
from alembic import command
from alembic.config import Config
from flask import Flask
from flask.cli import AppGroup

from config import settings_of

HERE = Path(__file__).resolve().parent

db_cli = AppGroup("db", help="Database schema.")


def alembic_config(url: str) -> Config:
    """An Alembic config for our migrations folder and the given database URL (output to stdout)."""
    import sys

    cfg = Config(stdout=sys.stdout)  # the stream of the moment: click's test runner swaps it
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "heads") -> None:
    """Bring the database at `url` up to `revision` (default: every branch head)."""
    command.upgrade(alembic_config(url), revision)


@db_cli.command("upgrade")
@click.argument("revision", default="heads")
def upgrade_command(revision: str) -> None:
    """Apply migrations (the Procfile's release step)."""
    upgrade(settings_of().database_url, revision)
    click.echo("database is up to date")


def downgrade(url: str, revision: str) -> None:
    """Take the database at `url` down to `revision` (e.g. `mail@-1`, or a revision id)."""
    command.downgrade(alembic_config(url), revision)


@db_cli.command("downgrade")
@click.argument("revision")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def downgrade_command(revision: str, yes: bool) -> None:
    """Undo migrations down to REVISION: `mail@-1` (one step of the mail branch) or a revision id.

    A downgrade drops what those revisions added, data included: back up first.
    """
    if not yes:
        click.confirm(f"Downgrade to {revision}? Tables and columns added since are dropped with their data",
                      abort=True)
    downgrade(settings_of().database_url, revision)
    click.echo(f"database is at {revision}")


@db_cli.command("current")
@click.option("--verbose", "-v", is_flag=True)
def current_command(verbose: bool) -> None:
    """Show the revision the database is at, one line per branch head."""
    command.current(alembic_config(settings_of().database_url), verbose=verbose)


@db_cli.command("history")
@click.option("--verbose", "-v", is_flag=True)
def history_command(verbose: bool) -> None:
    """List every revision, newest first, with its branch."""
    command.history(alembic_config(settings_of().database_url), verbose=verbose)


@db_cli.command("heads")
def heads_command() -> None:
    """List the head revision of every branch (a new revision's down_revision is its branch's head)."""
    command.heads(alembic_config(settings_of().database_url))


@db_cli.command("revision")
@click.option("-m", "--message", required=True)
@click.option("--branch", required=True, help="Package whose branch gets the revision, e.g. mail.")
@click.option("--rev-id", required=True, help="Revision id, e.g. mail_0002.")
def revision_command(message: str, branch: str, rev_id: str) -> None:
    """Autogenerate a revision on a package's branch (create the branch if new)."""
    cfg = alembic_config(settings_of().database_url)
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(cfg)
    labels = {label for rev in script.walk_revisions() for label in (rev.branch_labels or ())}
    if branch in labels:
        command.revision(cfg, message=message, autogenerate=True, head=f"{branch}@head", rev_id=rev_id)
    else:
        command.revision(cfg, message=message, autogenerate=True, head="core_0001",
                         branch_label=branch, rev_id=rev_id, splice=True)


def init_app(app: Flask) -> None:
    """Add the `db` CLI group."""
    app.cli.add_command(db_cli)
