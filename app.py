"""The one assembly point: `create_app()` builds the Flask app from settings and feature packages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

import activity
import automations
import config
import db
import devorg
import forms
import mail
import migrations
import ops
import people
import persons
import reports
import salesforce
import scoring
import sync
import web
import webhooks
import work
import writeback
from config import load_settings

# Feature packages in start-up order; each exposes `init_app(app)`. Imported by name here (not
# from strings) so tools see every edge; importing a package registers nothing by itself — its
# init_app does, and the dev org's only in development.
FEATURES = (
    config,
    db,
    ops,
    work,
    people,
    web,
    salesforce,
    devorg,
    sync,
    webhooks,
    mail,
    forms,
    activity,
    automations,
    scoring,
    reports,
    persons,
    writeback,
    migrations,
)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. `config` may hold `environ` (a dict replacing os.environ), `settings`
    (overrides of Settings fields by name) and plain Flask config keys (e.g. TESTING)."""
    config = dict(config or {})
    app = Flask(__name__, instance_relative_config=True, instance_path=config.pop("instance_path", None))
    settings = load_settings(
        environ=config.pop("environ", None),
        instance_path=app.instance_path,
        overrides=config.pop("settings", None),
    )
    app.config.update(
        TSUNAGI=settings,
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_base_url.startswith("https://"),
        REMEMBER_COOKIE_SECURE=settings.public_base_url.startswith("https://"),
        MAX_CONTENT_LENGTH=5 * 1024 * 1024,
        JSON_AS_ASCII=False,
    )
    app.config.update(config)
    if settings.trusted_proxies:
        # Behind a TLS proxy every request comes from the proxy's address: without this, all
        # customers would share one rate limit and links would say http://.
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    for feature in FEATURES:
        feature.init_app(app)
    return app
