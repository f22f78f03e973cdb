"""salesforce: the only code that talks to Salesforce (see salesforce/gateway.py for the contract).

`gateway_for(app)` returns the process-wide SalesforceGateway built from the app's settings (or,
with no Salesforce settings, from the running dev org's connection.json). `init_app` adds the
"salesforce" check to /healthz. The exceptions live in (and are imported from) `salesforce.errors`.
"""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask

import db
from config import settings_of
from salesforce.gateway import SalesforceGateway

__all__ = ["SalesforceGateway", "build_gateway", "gateway_for", "init_app", "set_gateway"]

_EXTENSION = "tsunagi.salesforce"


def build_gateway(settings: Any, **overrides: Any) -> SalesforceGateway:
    """A new gateway from settings (SALESFORCE_*, or the dev org's connection file when none are set)."""
    from config.settings import devorg_connection
    from salesforce.auth import credentials_from_settings

    devorg = None if settings.salesforce_configured else devorg_connection(settings)
    options: dict[str, Any] = {
        "api_version": settings.salesforce_api_version,
        "timeout": settings.salesforce_timeout_seconds,
        "max_retries": settings.salesforce_max_retries,
        "limit_pause_seconds": settings.salesforce_limit_pause_seconds,
        **overrides,
    }
    return SalesforceGateway(credentials_from_settings(settings, devorg), **options)


def gateway_for(app: Flask) -> SalesforceGateway:
    """The gateway of this process for `app`, built on first use and shared by every thread.

    Raises AuthError when no connection is configured (and no dev org is running).
    """
    state = app.extensions[_EXTENSION]
    with state["lock"]:
        if state["gateway"] is None:
            from ops.metrics import observe_salesforce_call

            gateway = build_gateway(settings_of(app), **state["overrides"])
            gateway.usage.add_listener(observe_salesforce_call)  # Prometheus: calls and errors
            state["gateway"] = gateway
        return state["gateway"]


def set_gateway(app: Flask, gateway: SalesforceGateway | None) -> None:
    """Replace the process-wide gateway (tests, and tools that build their own)."""
    state = app.extensions[_EXTENSION]
    with state["lock"]:
        state["gateway"] = gateway


def init_app(app: Flask) -> None:
    """Prepare the lazily built gateway and register the /healthz check."""
    from salesforce import models
    from salesforce.health import SalesforceHealth
    from web.health import register_check

    db.register_models(app, models)
    # SALESFORCE_GATEWAY_OPTIONS (Flask config) passes constructor options, e.g. a short back-off in tests.
    overrides = dict(app.config.get("SALESFORCE_GATEWAY_OPTIONS") or {})
    app.extensions[_EXTENSION] = {"gateway": None, "lock": threading.Lock(), "overrides": overrides}
    register_check(app, "salesforce", SalesforceHealth(app))
