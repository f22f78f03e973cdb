"""`flask work worker` and `flask work clock`: the two background process types of the Procfile.

Both check the database before starting (config.preflight), so a wrong DATABASE_URL stops them
with one line instead of a traceback in a loop.
"""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from config import settings_of
from config.preflight import check

work_cli = AppGroup("work", help="Background processes.")


def _start_process(kind: str) -> None:
    """Name the process in the logs, check the database, warn about demo settings, start metrics."""
    from ops.startup import start_process

    check(settings_of())
    start_process(current_app._get_current_object(), kind)  # type: ignore[attr-defined]


@work_cli.command("worker")
def worker_command() -> None:
    """Run a worker until SIGTERM."""
    from work.worker import run_worker

    _start_process("worker")
    run_worker(current_app._get_current_object())  # type: ignore[attr-defined]


@work_cli.command("clock")
def clock_command() -> None:
    """Run the one clock process until SIGTERM."""
    from work.clock import run_clock

    _start_process("clock")
    run_clock(current_app._get_current_object())  # type: ignore[attr-defined]


@work_cli.command("once")
def once_command() -> None:
    """Process whatever is due once, then exit (for scripts and cron)."""
    from work.worker import new_worker_id, work_once

    click.echo(work_once(current_app._get_current_object(), new_worker_id()))  # type: ignore[attr-defined]
