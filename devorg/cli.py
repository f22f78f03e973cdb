"""`flask --app app devorg serve | seed | reset`: run, fill and empty the local dev org."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Any

import click
from flask.cli import AppGroup

from config import settings_of

devorg_cli = AppGroup("devorg", help="The local Salesforce-compatible dev org.")


def _org() -> Any:
    from config.settings import StartupError
    from devorg.definition import DefinitionError
    from devorg.org import DevOrg

    settings = settings_of()
    try:
        return DevOrg(Path(settings.devorg_dir), definition=settings.devorg_definition or None)
    except DefinitionError as exc:
        # One line naming the file and every mistake, instead of a traceback.
        raise StartupError(f"DEVORG_DEFINITION: {exc}") from None


def _outbound_base_url() -> str:
    return settings_of().public_base_url.rstrip("/")


@devorg_cli.command("serve")
@click.option("--port", default=5443, show_default=True, help="HTTPS port (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
def serve(port: int, host: str) -> None:
    """Serve the dev org over HTTPS until interrupted; write connection.json; print one JSON line."""
    org = _org()
    org.start(host=host, port=port, quiet=False)
    for rule in org.definition.get("demo_outbound_messages", []):
        org.add_outbound_rule(rule["object"], rule["criteria"], rule["fields"],
                              rule["endpoint_url"].replace("${PUBLIC_BASE_URL}", _outbound_base_url()),
                              name=rule.get("name"), every_edit=bool(rule.get("every_edit")))
    connection = org.write_connection()
    click.echo(json.dumps({"event": "devorg.serving", "instance_url": org.instance_url, "org_id": org.org_id,
                           "connection": str(org.data_dir / "connection.json"), "ca_bundle": org.ca_bundle,
                           "records": len(org.store.by_id), "outbound_rules": len(org.outbound.rules()),
                           "login": connection["login_url"]}, ensure_ascii=False), color=False)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        org.close()


@devorg_cli.command("seed")
@click.option("--size", default=2000, show_default=True, help="People to create (60% members, 40% leads).")
def seed_command(size: int) -> None:
    """Empty the dev org and fill it with deterministic Japanese co-op demo data (stop `serve` first)."""
    from devorg.seed import seed

    org = _org()
    org.reset()
    counts = seed(org, size=size)
    org.close()
    click.echo(json.dumps({"event": "devorg.seeded", **counts}, ensure_ascii=False))


@devorg_cli.command("reset")
def reset_command() -> None:
    """Empty the dev org (its users stay; stop `serve` first)."""
    org = _org()
    org.reset()
    org.close()
    click.echo(json.dumps({"event": "devorg.reset"}))
