"""webhooks: inbound pushes from Salesforce (Outbound Messages), validated, stored and acked.

One module per inbound source with `parse(body) -> message` (webhooks.outbound); the route only
validates, stores and acks; the work source `webhooks.outbound` checks stored notifications
against Salesforce and applies what Salesforce returns; /admin/webhooks lists those that failed
or were ignored.
"""

from flask import Blueprint, Flask

import db

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


def init_app(app: Flask) -> None:
    """Register the webhook routes (CSRF-exempt: peers are servers), the admin page and the work source."""
    from people.auth import csrf
    from web import nav
    from web.i18n import lazy_gettext as _l
    from webhooks import models, routes  # noqa: F401  (routes attach the views to bp)
    from webhooks.admin import admin_bp
    from webhooks.jobs import apply_outbound
    from work import register_work_source

    db.register_models(app, models)
    csrf.exempt(bp)
    app.register_blueprint(bp)
    app.register_blueprint(admin_bp)
    nav.register(app, "admin", _l("Outbound Message"), "webhooks_admin.notifications", order=71,
                 description=_l("Salesforce からの通知のうち、確認できなかったものと無視したもの。"))
    register_work_source(app, "webhooks.outbound", lambda worker_id: apply_outbound(app, worker_id))
