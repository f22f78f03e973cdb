"""`flask --app app scoring load FILE | export [FILE] | rescore`."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import AppGroup

import db
from config.validation import DocumentError
from people.service import audit
from scoring import handoff, service

scoring_cli = AppGroup("scoring", help="Scoring model and scores.")


@scoring_cli.command("load")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--no-rescore", is_flag=True, help="Only store the model; rescore later.")
def load_command(path: Path, no_rescore: bool) -> None:
    """Import a scoring model from a YAML file and rescore everybody."""
    try:
        with db.transaction() as session:
            before = service.active_definition(session).document
            definition = service.import_model(session, path.read_text(encoding="utf-8"), by="cli")
            audit(session, "scoring.import_model", "active", before=before, after=definition.document)
            for threshold in definition.thresholds:
                if threshold.notify_owner and threshold.mail_template == "scoring-hot-lead":
                    handoff.ensure_hot_lead_template(session)
            result = None if no_rescore else service.rescore(session, None, reason="スコアリングモデルの変更")
    except DocumentError as exc:
        raise click.ClickException("\n".join(exc.messages)) from None
    click.echo(f"loaded {len(definition.behaviour)} behaviour, {len(definition.fit)} fit rules, "
               f"{len(definition.stages)} stages, {len(definition.thresholds)} thresholds")
    if result is not None:
        click.echo(f"rescored {result.people} people: {result.changed} changed, {result.crossings} crossings")


@scoring_cli.command("export")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
def export_command(path: Path | None) -> None:
    """Write the model in force as YAML (to PATH, or standard output)."""
    with db.transaction() as session:
        text = service.active_yaml(session)
    if path is None:
        sys.stdout.write(text)
    else:
        path.write_text(text, encoding="utf-8")
        click.echo(f"wrote {path}")


@scoring_cli.command("rescore")
def rescore_command() -> None:
    """Recompute every score now (set-based; also gives new mirror people a row)."""
    with db.transaction() as session:
        result = service.rescore(session, None, reason="手動の再計算")
    click.echo(f"rescored {result.people} people: {result.changed} changed, {result.crossings} crossings")
