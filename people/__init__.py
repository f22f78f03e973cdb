"""People: sign-in, roles (operator, sales, admin), user management and the audit log."""

from flask import Blueprint, Flask

bp = Blueprint("people", __name__, template_folder="templates")


def init_app(app: Flask) -> None:
    """Set up Flask-Login, CSRF protection, the sign-in pages and the `users` CLI."""
    from people import auth, cli, routes  # noqa: F401  (routes attach to bp)

    auth.init_login(app)
    app.register_blueprint(bp)
    app.cli.add_command(cli.users_cli)
