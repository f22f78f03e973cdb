"""`flask sync run|status|describe` and `flask mirror dump`."""

from __future__ import annotations

import json
import time

import click
from flask.cli import AppGroup

from config import settings_of
from db import get_db
from web import current_application

sync_cli = AppGroup("sync", help="Mirror Salesforce into the local database.")
mirror_cli = AppGroup("mirror", help="Read the local mirror.")


@sync_cli.command("run")
@click.option("--once", is_flag=True, help="Run one cycle and exit (default: a cycle every SYNC_INTERVAL_SECONDS).")
@click.option("--object", "objects", multiple=True, help="Only this object (repeatable).")
@click.option("--full", is_flag=True, help="Refresh the describe of every object first.")
def run_command(once: bool, objects: tuple[str, ...], full: bool) -> None:
    """Run poll cycles."""
    from sync.cycle import run_cycle

    app = current_application()
    settings = settings_of(app)
    unknown = [o for o in objects if o not in settings.sync_objects]
    if unknown:
        raise click.BadParameter(f"not in SYNC_OBJECTS: {', '.join(unknown)}", param_hint="--object")
    while True:
        result = run_cycle(app, list(objects) or None, full)
        click.echo(json.dumps({"outcome": result.outcome, "api_calls": result.api_calls,
                               "records": result.records, "errors": result.errors}, ensure_ascii=False))
        if once:
            if result.outcome not in ("ok", "busy"):
                raise SystemExit(1)
            return
        full = False
        time.sleep(settings.sync_interval_seconds)


@sync_cli.command("describe")
def describe_command() -> None:
    """Refresh the cached describe of every mirrored object (new custom fields appear next cycle)."""
    from salesforce import gateway_for
    from sync import describe

    app = current_application()
    settings = settings_of(app)
    with get_db(app).transaction() as session:
        errors = describe.refresh(session, gateway_for(app), list(settings.sync_objects))
        types = {name: describe.state(session, name).field_types for name in settings.sync_objects}
    lacking = describe.person_model_gaps(settings, types)
    if lacking:
        errors["PERSON_MODEL"] = lacking
    for name, error in errors.items():
        click.echo(f"{name}: {error}", err=True)
    if errors:
        raise SystemExit(1)
    click.echo("describe refreshed")


@sync_cli.command("status")
def status_command() -> None:
    """Print the sync status as JSON."""
    from sync.status import report

    with get_db().transaction() as session:
        click.echo(json.dumps(report(session, settings_of().sync_objects), ensure_ascii=False,
                              indent=2))


@mirror_cli.command("dump")
@click.argument("object_name")
@click.option("--include-deleted", is_flag=True, help="Also records deleted in Salesforce.")
def dump_command(object_name: str, include_deleted: bool) -> None:
    """Print one JSON line per mirrored record: Id and the field values as last synced."""
    from sync.queries import mirror_dump

    with get_db().sessionmaker() as session:
        result = session.execute(mirror_dump(object_name, include_deleted).execution_options(yield_per=2000))
        for sf_id, fields in result:
            click.echo(json.dumps({**fields, "Id": sf_id}, ensure_ascii=False, sort_keys=True))
