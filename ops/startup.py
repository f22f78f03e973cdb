"""What every long-running process does first: say which demo settings it runs with."""

from __future__ import annotations

import logging

from config.production import demo_settings
from config.settings import Settings

log = logging.getLogger("tsunagi.startup")


def warn_if_demo(settings: Settings) -> None:
    """Log a warning per development default in use outside debug mode (the release step refuses them)."""
    if settings.debug:
        return
    for problem in demo_settings(settings):
        log.warning("not fit for production: %s", problem)
