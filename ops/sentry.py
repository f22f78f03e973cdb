"""Optional error reporting: Sentry when SENTRY_DSN is set and sentry-sdk is installed (the `sentry` extra)."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def init_sentry(settings: Any, kind: str) -> bool:
    """Start the Sentry client once per process when SENTRY_DSN is set; True when reporting is on."""
    if not settings.sentry_dsn:
        return False
    try:
        import sentry_sdk
    except ImportError:
        log.warning("SENTRY_DSN is set but sentry-sdk is not installed (pip install 'tsunagi[sentry]'): "
                    "errors are only logged")
        return False
    if sentry_sdk.get_client().is_active():
        return True
    # The Flask integration is enabled automatically; no personal data is sent (send_default_pii off).
    sentry_sdk.init(dsn=settings.sentry_dsn, send_default_pii=False, server_name=None,
                    environment="development" if settings.debug else "production")
    sentry_sdk.set_tag("process", kind)
    return True
