"""`flask forms load FILE…`, `forms load-examples`, `forms export [KEY…]`, `forms describe OBJECT…`."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

import db
from config.validation import DocumentError
from forms import queries
from forms.schema import dump_yaml, load_yaml, parse_spec
from forms.service import save_definition
from web import current_application

forms_cli = AppGroup("forms", help="Form definitions.")
EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"


@forms_cli.command("load")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def load_command(paths: tuple[Path, ...]) -> None:
    """Create or update form definitions from YAML files (all or nothing)."""
    _load(paths)


@forms_cli.command("load-examples")
def load_examples_command() -> None:
    """Load the shipped forms (trial set, materials request, revisit booking, visit result); idempotent."""
    _load(tuple(sorted(EXAMPLES_DIR.glob("*.yaml"))))


def _load(paths: tuple[Path, ...]) -> None:
    specs = []
    for path in paths:
        try:
            specs.extend(load_yaml(path.read_text(encoding="utf-8")))
        except DocumentError as exc:
            raise click.ClickException(f"{path}:\n  " + "\n  ".join(exc.messages)) from None
    with db.transaction() as session:
        for spec in specs:
            row, changed = save_definition(session, spec)
            click.echo(f"{spec.key}: {'version ' + str(row.version) if changed else 'unchanged'}")


@forms_cli.command("export")
@click.argument("keys", nargs=-1)
def export_command(keys: tuple[str, ...]) -> None:
    """Print form definitions as YAML (all of them when no key is given)."""
    with db.transaction() as session:
        rows = list(session.scalars(queries.definitions()))
    missing = set(keys) - {r.key for r in rows}
    if missing:
        raise click.ClickException(f"no such form: {', '.join(sorted(missing))}")
    chosen = [parse_spec(r.spec) for r in rows if not keys or r.key in keys]
    click.echo(dump_yaml(chosen), nl=False)


@forms_cli.command("describe")
@click.argument("objects", nargs=-1, required=True)
def describe_command(objects: tuple[str, ...]) -> None:
    """Refresh the cached describe (lengths, required flags, picklists) of Salesforce objects."""

    from forms.describe import refresh_describe
    from salesforce import gateway_for

    gateway = gateway_for(current_application())
    with db.transaction() as session:
        refresh_describe(session, gateway, list(objects))
    click.echo("refreshed: " + ", ".join(objects))
