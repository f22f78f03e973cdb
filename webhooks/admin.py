"""GET /admin/webhooks: Outbound Message notifications that failed or were ignored (admins).

A notification that could not be checked against Salesforce after OUTBOUND_MAX_ATTEMPTS tries is
`failed`; one that named nothing Salesforce has (or claimed a future stamp, or an object not
mirrored) is `ignored`. Many ignored ones from one sender are what a forgery attempt looks like.
An admin may send failed ones round again once Salesforce answers.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select, update

import db
from people.auth import role_required
from people.service import audit
from web.i18n import gettext as _
from webhooks.models import OutboundNotification

admin_bp = Blueprint("webhooks_admin", __name__, template_folder="templates")

SHOWN = 200


@admin_bp.route("/admin/webhooks")
@role_required("admin")
def notifications() -> ResponseReturnValue:
    """Counts by status and the latest failed or ignored notifications."""
    session = db.session()
    counts = dict(session.execute(select(OutboundNotification.status, func.count())
                                  .group_by(OutboundNotification.status)).all())
    rows = session.scalars(select(OutboundNotification)
                           .where(OutboundNotification.status.in_(("failed", "ignored")))
                           .order_by(OutboundNotification.id.desc()).limit(SHOWN)).all()
    return render_template("webhooks/notifications.html", counts=counts, rows=rows)


@admin_bp.route("/admin/webhooks/retry", methods=["POST"])
@role_required("admin")
def retry_failed() -> ResponseReturnValue:
    """Queue every failed notification again (each gets OUTBOUND_MAX_ATTEMPTS fresh tries)."""
    session = db.session()
    done = db.rows_matched(session, update(OutboundNotification).where(OutboundNotification.status == "failed")
                           .values(status="queued", attempts=0, due_at=db.utcnow()))
    audit(session, "webhooks.retry_failed", "outbound_notifications", None, {"requeued": done})
    session.commit()
    flash(_("%(count)d 件をもう一度確認します。", count=done))
    return redirect(url_for("webhooks_admin.notifications"), code=303)
