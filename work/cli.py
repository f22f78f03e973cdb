"""`flask worker` and `flask clock`: the two background process types of the Procfile."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

work_cli = AppGroup("work", help="Background processes.")


@work_cli.command("worker")
def worker_command() -> None:
    """Run a worker until SIGTERM."""
    from work.worker import run_worker

    run_worker(current_app._get_current_object())  # type: ignore[attr-defined]


@work_cli.command("clock")
def clock_command() -> None:
    """Run the one clock process."""
    from work.clock import run_clock

    run_clock(current_app._get_current_object())  # type: ignore[attr-defined]


@work_cli.command("once")
def once_command() -> None:
    """Process whatever is due once, then exit (for scripts and cron)."""
    from work.worker import new_worker_id, work_once

    click.echo(work_once(current_app._get_current_object(), new_worker_id()))  # type: ignore[attr-defined]
