"""People: sign-in, roles (operator, sales, marketer, admin), user management and the audit log."""

from flask import Blueprint, Flask

import db

bp = Blueprint("people", __name__, template_folder="templates")


def init_app(app: Flask) -> None:
    """Set up Flask-Login, CSRF protection, sign-in and admin pages, and the `users` CLI."""
    from people import admin, auth, cli, jobs, models, routes  # noqa: F401  (routes attach to bp)
    from people.audit_view import AUDIT_ACTIONS
    from people.forms import ROLE_LABELS
    from web import labels, nav
    from web.i18n import lazy_gettext as _l
    from work import register_job_handler

    db.register_models(app, models)
    auth.init_login(app)
    app.register_blueprint(bp)
    labels.register(app, "role", ROLE_LABELS)
    labels.register(app, "audit_action", AUDIT_ACTIONS)
    app.cli.add_command(cli.users_cli)
    register_job_handler(app, "people.cleanup", jobs.cleanup)
    nav.register(app, "admin", _l("ユーザー"), "people.users", order=80,
                 description=_l("サインインできる人と役割"))
    nav.register(app, "admin", _l("監査ログ"), "people.audit_log", order=81,
                 description=_l("管理者による変更の記録"))
