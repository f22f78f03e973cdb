"""scoring: behaviour and fit scores, decay, stages, hot-lead hand-off, and web tracking.

See docs/scoring.md. Public entry points for other packages:
`scoring.tracking.link_visitor(session, visitor_id, person_id)` and
`scoring.tracking.person_token(secret_key, person_id)` (for mail click redirects).
"""

from typing import Any

from flask import Blueprint, Flask

import db

bp = Blueprint("scoring", __name__, template_folder="templates")


def _rescore_job(payload: dict[str, Any]) -> None:
    from scoring import service

    with db.transaction() as session:
        service.rescore(session, None, reason=str(payload.get("reason") or "再計算"))


def init_app(app: Flask) -> None:
    """Register pages, the tracking endpoints, workers, the hourly decay job and the CLI."""
    from scoring import jobs, models, routes  # noqa: F401  (routes attach to bp)
    from scoring.cli import scoring_cli
    from scoring.pixel import PixelFastPath
    from web import nav
    from web.i18n import lazy_gettext as _l
    from work import register_job_handler, register_work_source

    db.register_models(app, models)
    app.register_blueprint(bp)
    app.wsgi_app = PixelFastPath(app.wsgi_app, app)
    app.cli.add_command(scoring_cli)
    register_work_source(app, "scoring.activity", jobs.score_activity_source)
    register_work_source(app, "scoring.changes", jobs.changes_source)
    register_work_source(app, "scoring.writeback", jobs.writeback_source)
    register_job_handler(app, "scoring.decay", jobs.decay_job)
    register_job_handler(app, "scoring.rescore", _rescore_job)
    nav.register(app, "admin", _l("スコアリング"), "scoring.admin_model",
                 description=_l("スコアのルール、段階、ホットリードのしきい値"), order=70)
