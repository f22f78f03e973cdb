"""The web shell: base layout, language choice, home pages per role, health check, error pages."""

from flask import Blueprint, Flask

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static/web")


def init_app(app: Flask) -> None:
    """Register the shell's pages, Babel and the error handlers."""
    from web import errors, health, i18n, routes  # noqa: F401  (routes attach to bp)

    i18n.init_babel(app)
    errors.init_errors(app)
    app.register_blueprint(bp)
    app.register_blueprint(health.bp)
