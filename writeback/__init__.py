"""The write-back queue: every change tsunagi makes in Salesforce goes through here, durably and
exactly once. Writers call `writeback.queue.enqueue` (see writeback/models.py for the contract);
the worker (writeback/worker.py) sends items in batches; admins fix failures at /admin/writeback.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask
from flask.globals import app_ctx

import db

bp = Blueprint("writeback", __name__, template_folder="templates")


def _work_source(worker_id: str) -> int:
    from writeback.worker import process_due

    return process_due(app_ctx.app, worker_id)


def _health() -> tuple[bool, dict[str, Any]]:
    """Queue depths for /healthz (informational: a down org is reported by the "salesforce" check)."""
    from writeback import queries, service

    session = db.session()
    counts = service.counts(session)
    oldest = session.scalar(queries.oldest_pending_created_at())
    waiting = round((db.utcnow() - oldest).total_seconds()) if oldest is not None else 0
    return True, {"pending": counts["queued"] + counts["running"], "failed": counts["failed"],
                  "oldest_pending_seconds": waiting}


def init_app(app: Flask) -> None:
    """Register the admin pages, the nav link, the worker's work source and the /healthz numbers."""
    from web import nav
    from web.health import register_check
    from web.i18n import lazy_gettext as _l
    from work import register_work_source
    from writeback import models, routes  # noqa: F401  (routes attach the views to bp)

    db.register_models(app, models)
    if "writeback" not in app.blueprints:
        app.register_blueprint(bp)
    nav.register(app, "admin", _l("書き戻しエラー"), "writeback.error_queue",
                 description=_l("Salesforceへの書き込みに失敗したものを直して再送します。"))
    register_work_source(app, "writeback", _work_source)
    register_check(app, "writeback", _health)
