"""`flask work worker` and `flask work clock`: the two background process types of the Procfile.

Both check the database before starting (config.preflight), so a wrong DATABASE_URL stops them
with one line instead of a traceback in a loop.
"""

from __future__ import annotations

import click
from flask.cli import AppGroup
from flask.globals import app_ctx

from config import settings_of
from config.preflight import check

work_cli = AppGroup("work", help="Background processes.")


def _start_process(kind: str) -> None:
    """Name the process in the logs, check the database, warn about demo settings, start metrics."""
    from ops.startup import start_process

    check(settings_of())
    start_process(app_ctx.app, kind)


@work_cli.command("worker")
def worker_command() -> None:
    """Run a worker until SIGTERM."""
    from work.worker import run_worker

    _start_process("worker")
    run_worker(app_ctx.app)


@work_cli.command("clock")
def clock_command() -> None:
    """Run the one clock process until SIGTERM."""
    from work.clock import run_clock

    _start_process("clock")
    run_clock(app_ctx.app)


@work_cli.command("once")
def once_command() -> None:
    """Process whatever is due once, then exit (for scripts and cron)."""
    from work.worker import new_worker_id, work_once

    click.echo(work_once(app_ctx.app, new_worker_id()))
