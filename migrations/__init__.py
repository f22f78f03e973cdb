"""Schema migrations (Alembic): `flask db upgrade` applies every branch head.

Each package keeps its own branch of revisions (branch label = package name) growing from
`core_0001`, so packages can add tables without fighting over one linear history.
"""

from __future__ import annotations

from pathlib import Path

import click
from alembic import command
from alembic.config import Config
from flask import Flask, current_app
from flask.cli import AppGroup

HERE = Path(__file__).resolve().parent

db_cli = AppGroup("db", help="Database schema.")


def alembic_config(url: str) -> Config:
    """An Alembic config for our migrations folder and the given database URL."""
    cfg = Config()
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
    upgrade(current_app.config["TSUNAGI"].database_url, revision)
    click.echo("database is up to date")


@db_cli.command("revision")
@click.option("-m", "--message", required=True)
@click.option("--branch", required=True, help="Package whose branch gets the revision, e.g. mail.")
@click.option("--rev-id", required=True, help="Revision id, e.g. mail_0002.")
def revision_command(message: str, branch: str, rev_id: str) -> None:
    """Autogenerate a revision on a package's branch (create the branch if new)."""
    cfg = alembic_config(current_app.config["TSUNAGI"].database_url)
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
