"""`flask --app app config table|check`."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from config import settings_of
from config.preflight import check
from config.production import check_production
from config.table import markdown_table

config_cli = AppGroup("config", help="Settings.")


@config_cli.command("table")
def table_command() -> None:
    """Print every setting as a Markdown table (variable, default, meaning)."""
    click.echo(markdown_table(), nl=False)


@config_cli.command("check")
def check_command() -> None:
    """Check the settings and that the database can be opened (the release step runs this first).

    Outside debug mode it also refuses every development default (config.production).
    """
    settings = settings_of()
    check(settings)
    check_production(settings)
    click.echo("configuration ok")
