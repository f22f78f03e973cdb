"""The web shell: base layout, language choice, navigation, home pages per role, health, errors."""

from typing import cast

from flask import Blueprint, Flask, current_app
from werkzeug.local import LocalProxy

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static/web")


def init_app(app: Flask) -> None:
    """Register the shell's pages, Babel, filters, the navigation registry and the error handlers."""
    from web import errors, filters, headers, health, i18n, nav, routes  # noqa: F401  (routes attach to bp)

    i18n.init_babel(app)
    filters.init_filters(app)
    nav.init_nav(app)
    # Before errors: after-request hooks run last-registered first, so the error module's
    # X-Frame-Options check sees only a policy a view set itself.
    headers.init_headers(app)
    errors.init_errors(app)
    app.register_blueprint(bp)
    app.register_blueprint(health.bp)


def current_application() -> Flask:
    """The Flask object behind `current_app`, for what outlives the app context it was read in
    (a thread, a dev SMTP server, a sync cycle started from the CLI or a job)."""
    return cast("LocalProxy[Flask]", current_app)._get_current_object()
