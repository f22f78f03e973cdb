"""Background work: the job queue, claiming due rows, leases, the worker loop and the clock.

Packages plug in through `register_job_handler` (a job kind → function) and
`register_work_source` (a function that claims and processes its own due rows) from their
`init_app`. Nothing is registered at import time.
"""

from flask import Flask

import db
from work.registry import WorkRegistry, register_job_handler, register_urgent_source, register_work_source

__all__ = ["WorkRegistry", "init_app", "register_job_handler", "register_urgent_source", "register_work_source"]


def init_app(app: Flask) -> None:
    """Give the app a work registry (with `work.cleanup`, `work.retention`) and the worker/clock CLI commands."""
    from work import models
    from work.cli import work_cli
    from work.jobs import cleanup
    from work.retention import retention_job

    db.register_models(app, models)
    app.extensions.setdefault("tsunagi.work", WorkRegistry())
    app.cli.add_command(work_cli)
    register_job_handler(app, "work.cleanup", cleanup)
    register_job_handler(app, "work.retention", retention_job)
