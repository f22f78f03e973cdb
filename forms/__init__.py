"""forms: form definitions, operator/sales/public forms and submissions (docs/forms.md)."""

from typing import TYPE_CHECKING

from flask import Blueprint, Flask

import db

if TYPE_CHECKING:
    from forms.schema import FieldSpec

bp = Blueprint("forms", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static/forms")


def init_app(app: Flask) -> None:
    """Register the pages, the `forms` CLI, the submission-status work source and nav links."""
    from forms import admin, cli, describe, jobs, models, public, routes  # noqa: F401  (routes attach to bp)
    from web import nav
    from web.i18n import lazy_gettext as _l
    from work import register_work_source
    from work.registry import register_job_handler

    db.register_models(app, models)
    app.register_blueprint(bp)
    app.jinja_env.globals["date_bounds"] = _date_bounds
    app.cli.add_command(cli.forms_cli)
    register_work_source(app, "forms.status", jobs.refresh_submission_status)
    register_job_handler(app, describe.DESCRIBE_JOB, describe.describe_job)
    nav.register(app, "operator", _l("フォーム入力"), "forms.index", order=10,
                 description=_l("電話受付などのフォームに入力します"))
    nav.register(app, "sales", _l("訪問結果"), "forms.visit", order=10,
                 description=_l("お客様を探して訪問結果を記録します"))
    nav.register(app, "sales", _l("担当のお客様"), "forms.visit", order=11, _anchor="customers",
                 description=_l("Salesforce で自分が所有者のお客様の一覧から訪問を記録します"))
    nav.register_home_panel(app, "sales", routes.customers_panel)
    nav.register(app, "admin", _l("フォーム"), "forms.admin_list", order=30,
                 description=_l("フォームの定義と受付一覧"))


def _date_bounds(field: "FieldSpec") -> tuple[str, str]:
    """(min, max) attributes of a date input, as ISO dates or "" (for the templates)."""
    from datetime import date

    from forms.inputs import date_bounds
    from forms.service import local_today

    low, high = date_bounds(field, date.fromisoformat(local_today()))
    return (low.isoformat() if low else "", high.isoformat() if high else "")
