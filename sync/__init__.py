"""sync: the mirror of Salesforce records and the change events derived from it.

`sync.mirror.apply_records` is the contract other packages call; `sync.cycle` polls; the
`sync.cycle` job, the CLI, the admin status page and the /healthz check are registered here.
"""

from typing import Any

from flask import Blueprint, Flask

import db

bp = Blueprint("sync", __name__, template_folder="templates")


def init_app(app: Flask) -> None:
    """Register the cycle job, the CLI groups, the status page, its nav link and the health check."""
    from sync import models, routes  # noqa: F401  (routes attach the views to bp)
    from sync.cli import mirror_cli, sync_cli
    from sync.jobs import cycle_job
    from web import nav
    from web.health import register_check
    from web.i18n import lazy_gettext as _l
    from work import register_job_handler

    db.register_models(app, models)
    register_job_handler(app, "sync.cycle", cycle_job)
    app.cli.add_command(sync_cli)
    app.cli.add_command(mirror_cli)
    app.register_blueprint(bp)
    nav.register(app, "admin", _l("同期の状況"), "sync.admin_status",
                 description=_l("Salesforce との同期、API 使用量、エラー"))
    register_check(app, "sync", _health)


def _health() -> tuple[bool, dict[str, Any]]:
    from sync.status import health

    return health(db.session())
