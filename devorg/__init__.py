"""devorg: a local Salesforce-compatible org over HTTPS for the demo, the tests and fault injection.

The org itself lives in `devorg.org.DevOrg` (started by `flask --app app devorg serve` or the
`devorg` pytest fixture); this module wires the CLI and the admin pages (under /devorg) into tsunagi.
"""

from flask import Blueprint, Flask

bp = Blueprint("devorg", __name__, url_prefix="/devorg", template_folder="templates")


def init_app(app: Flask) -> None:
    """Register the `devorg` CLI group, the admin pages and their navigation link — in development only.

    In production (TSUNAGI_DEBUG off, not under tests) nothing of the dev org is loaded: no menu,
    no pages, no CLI, and its libraries (trustme, Faker) need not be installed (the `dev` extra).
    """
    from config.production import is_development

    if not is_development(app):
        return
    from devorg import routes  # noqa: F401  (attaches the views to bp)
    from devorg.cli import devorg_cli
    from web import nav
    from web.i18n import lazy_gettext as _l

    app.cli.add_command(devorg_cli)
    if "devorg" not in app.blueprints:
        app.register_blueprint(bp)
    nav.register(app, "admin", _l("開発用 Salesforce"), "devorg.index", order=900,
                 description=_l("ローカルの開発用 org のレコードを担当者として編集し、障害を注入します。"))
