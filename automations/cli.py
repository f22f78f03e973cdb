"""`flask --app app automations …`: load, export, load-examples, run."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from automations import service
from config.validation import DocumentError
from db import transaction

automations_cli = AppGroup("automations", help="Automations: load and export YAML, shipped examples.")


def _fail(exc: DocumentError) -> None:
    for error in exc.messages:
        click.echo(f"error: {error}", err=True)
    sys.exit(2)


@automations_cli.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--enable", is_flag=True, default=None,
              help="Enable every loaded automation (default: each as its `enabled:` says).")
def load_command(file: Path, enable: bool | None) -> None:
    """Create or update automations, segments and templates from a YAML FILE (idempotent)."""
    try:
        with transaction() as session:
            counts = service.load_documents(session, service.parse_yaml(file.read_text(encoding="utf-8")), enable)
    except DocumentError as exc:
        _fail(exc)
    click.echo(f"loaded {counts['automations']} automations, {counts['segments']} segments, "
               f"{counts['templates']} templates from {file}")


@automations_cli.command("export")
def export_command() -> None:
    """Print every automation and segment as YAML (the format `load` reads)."""
    with transaction() as session:
        click.echo(service.export_yaml(session), nl=False)


@automations_cli.command("load-examples")
@click.option("--enable", is_flag=True, help="Enable them (the demo does); otherwise new ones load disabled.")
def load_examples_command(enable: bool) -> None:
    """Load the shipped examples (absent follow-up, materials sequence, countdown), disabled unless --enable."""
    try:
        with transaction() as session:
            counts = service.load_examples(session, enable=enable)
    except DocumentError as exc:
        _fail(exc)
    state = "enabled" if enable else "new ones disabled: enable each on its page after a dry run"
    click.echo(f"loaded {counts['automations']} example automations ({state}), {counts['templates']} templates")


@automations_cli.command("run")
def run_command() -> None:
    """Tick, then process every pending change event and due step once (for scripts)."""
    from automations.jobs import run_all_once

    click.echo(run_all_once())
