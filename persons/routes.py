"""The person page (`/people/<sf_id>`) and the sent-mail log (`/admin/mail/log`)."""

from __future__ import annotations

from flask import abort, render_template, request
from flask.typing import ResponseReturnValue

import db
from mail.consent import SKIP_REASONS, STATUS_LABELS
from people.auth import role_required
from persons import bp, queries, service
from web.i18n import gettext as _


def _labels() -> dict[str, object]:
    return {"status_labels": STATUS_LABELS, "skip_reasons": SKIP_REASONS, "kinds": service.KINDS,
            "activity_labels": service.ACTIVITY_LABELS, "enrollment_labels": service.ENROLLMENT_LABELS,
            "consent_labels": service.CONSENT_LABELS, "consent_sources": service.CONSENT_SOURCES,
            "visit_labels": service.VISIT_LABELS}


@bp.route("/people/<sf_id>")
@role_required("sales", "marketer")
def person(sf_id: str) -> ResponseReturnValue:
    """One Lead or Contact: card, running automations and a timeline of everything, newest first."""
    if not service.SF_ID.match(sf_id):
        abort(404)
    try:
        before = service.parse_before(request.args.get("before"))
    except service.CursorError:
        abort(400, _("ページの指定が正しくありません。"))
    page = service.person_page(db.session(), sf_id, before)
    if page is None:
        abort(404)
    return render_template("persons/person.html", **page, first_page=before is None, **_labels())


@bp.route("/admin/mail/log")
@role_required("marketer")
def mail_log() -> ResponseReturnValue:
    """Sent mail, newest first, searchable by address, person id and automation key."""
    args = request.args
    address = args.get("address", "").strip()[:254] or None
    person_id = args.get("person", "").strip() or None
    automation = args.get("automation", "").strip()[:100] or None
    error = None
    if person_id and not service.SF_ID.match(person_id):
        error, person_id = _("お客様の ID は 15 桁または 18 桁の英数字です。"), None
    before = args.get("before", type=int)
    rows = db.session().execute(queries.mail_log(address, person_id, automation, before, service.PAGE + 1)).all()
    more = len(rows) > service.PAGE
    rows = rows[:service.PAGE]
    return render_template("persons/mail_log.html", rows=rows, error=error,
                           next=rows[-1].id if more else None, address=address or "",
                           person=args.get("person", ""), automation=automation or "", **_labels())
