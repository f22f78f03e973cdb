"""webhooks: inbound pushes from Salesforce (Outbound Messages), validated, stored and acked.

One module per inbound source with `parse(body) -> message` (webhooks.outbound); the route only
validates, stores and acks; the work source `webhooks.outbound` applies stored notifications to
the mirror.
"""

from flask import Blueprint, Flask

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


def init_app(app: Flask) -> None:
    """Register the webhook routes (CSRF-exempt: peers are servers) and the applying work source."""
    from people.auth import csrf
    from webhooks import routes  # noqa: F401  (attaches the views to bp)
    from webhooks.jobs import apply_outbound
    from work import register_work_source

    csrf.exempt(bp)
    app.register_blueprint(bp)
    register_work_source(app, "webhooks.outbound", lambda worker_id: apply_outbound(app, worker_id))
