"""automations: triggers, conditions, actions, sequences, segments and broadcasts (docs/automations.md).

`init_app` registers the admin pages (/admin/automations), the CLI group, the two work sources
(`automations.events`, `automations.steps`) and the clock's `automations.tick` handler.
"""

from flask import Blueprint, Flask

import db

bp = Blueprint("automations", __name__, template_folder="templates", url_prefix="/admin/automations")


@bp.context_processor
def _labels() -> dict[str, object]:
    from automations.labels import labels

    return labels()


def init_app(app: Flask) -> None:
    """Register the blueprint, CLI commands, work sources and the tick job."""
    from automations import jobs, models, review, routes  # noqa: F401  (routes attach to bp)
    from automations.cli import automations_cli
    from automations.labels import OUTCOMES, TRIGGERS
    from web import labels, nav
    from web.i18n import lazy_gettext as _l
    from work import register_job_handler, register_urgent_source, register_work_source

    db.register_models(app, models)
    app.register_blueprint(bp)
    labels.register(app, "automation_outcome", OUTCOMES)
    labels.register(app, "trigger", TRIGGERS)
    nav.register(app, "admin", _l("オートメーション"), "automations.index",
                 description=_l("フィールド変更・日付・フォームで動くメールとフォローアップ"))
    nav.register(app, "marketer", _l("オートメーション"), "automations.index", order=10,
                 description=_l("オートメーションと一斉配信の準備、テスト送信、承認の依頼"))
    app.cli.add_command(automations_cli)
    register_work_source(app, "automations.events", jobs.process_events)
    register_work_source(app, "automations.steps", jobs.run_steps)
    register_urgent_source(app, "automations.urgent", jobs.run_urgent)
    register_job_handler(app, "automations.tick", lambda payload: jobs.tick(payload))
    register_job_handler(app, "automations.broadcast", jobs.plan_broadcast)
