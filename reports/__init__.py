"""reports: admin reports (automations, campaigns, forms, deliverability, sync, stages) and data quality.

See docs/reports.md. Its tables (reports.models): report snapshots (figures the `reports.refresh`
job precomputes) and duplicate dismissals.
"""

from flask import Blueprint, Flask

import db

bp = Blueprint("reports", __name__, template_folder="templates")


def init_app(app: Flask) -> None:
    """Register the report pages and their navigation entries."""
    from reports import models, opportunity_routes, routes  # noqa: F401  (routes attach to bp)
    from reports.snapshots import refresh_job
    from web import nav
    from web.i18n import lazy_gettext as _l
    from work import register_job_handler

    db.register_models(app, models)
    app.register_blueprint(bp)
    register_job_handler(app, "reports.refresh", refresh_job)
    nav.register(app, "admin", _l("レポート"), "reports.index",
                 description=_l("オートメーション、キャンペーン、フォーム、配信、同期の成果"), order=80)
    nav.register(app, "admin", _l("商談ファネル"), "reports.opportunities",
                 description=_l("リード → ホットリード → 商談 → 受注、商談化率と受注率、キャンペーンの影響"), order=82)
    nav.register(app, "admin", _l("データ品質"), "reports.data_quality",
                 description=_l("重複の候補、無効なメールアドレス・電話番号、未入力の項目"), order=81)
