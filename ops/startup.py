"""What every long-running process does first: say which demo settings it runs with."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from config import settings_of
from config.production import demo_settings
from config.settings import Settings

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger("tsunagi.startup")


def warn_if_demo(settings: Settings) -> None:
    """Log a warning per development default in use outside debug mode (the release step refuses them)."""
    if settings.debug:
        return
    for problem in demo_settings(settings):
        log.warning("not fit for production: %s", problem)


def start_process(app: Flask, kind: str) -> None:
    """For the worker and the clock: logging under their kind, Sentry, demo warnings, METRICS_PORT."""
    from ops.logs import configure_logging
    from ops.metrics import serve_process_metrics
    from ops.sentry import init_sentry

    settings = settings_of(app)
    configure_logging(settings, kind)
    init_sentry(settings, kind)
    warn_if_demo(settings)
    if settings.metrics_port:
        serve_process_metrics(settings.metrics_port)
        log.info("metrics on port %d", settings.metrics_port)
