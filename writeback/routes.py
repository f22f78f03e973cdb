"""/admin/writeback: the write-back queue's counts and its error queue (admins only)."""

from __future__ import annotations

import json

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

import db
from people.auth import role_required
from web import found
from web.i18n import gettext as _
from writeback import bp, queries, service
from writeback.forms import DiscardForm, ResendForm
from writeback.models import WritebackItem

# Failed items per page of the error queue (newest first; ?before=<id> for the next page).
QUEUE_PAGE = 200


@bp.route("/admin/writeback")
@role_required("admin")
def error_queue() -> ResponseReturnValue:
    """Counts per status and the failed items with Salesforce's message."""
    session = db.session()
    search = request.args.get("q", "").strip()[:100]
    before = request.args.get("before", "")
    if before and not before.isdigit():
        abort(400)
    items = session.scalars(queries.failed_items(search, limit=QUEUE_PAGE + 1,
                                                 before=int(before) if before else None)).all()
    next_before = items[QUEUE_PAGE - 1].id if len(items) > QUEUE_PAGE else None
    return render_template("writeback/queue.html", counts=service.counts(session), items=items[:QUEUE_PAGE],
                           search=search, next_before=next_before, paged=bool(before))


@bp.route("/admin/writeback/<int:item_id>", methods=["GET", "POST"])
@role_required("admin")
def item_detail(item_id: int) -> ResponseReturnValue:
    """One failed item: edit its fields and resend it."""
    session = db.session()
    item = found(session.get(WritebackItem, item_id))
    form = ResendForm()
    status = 200
    if request.method == "GET":
        form.fields.data = json.dumps(item.fields, ensure_ascii=False, indent=2, sort_keys=True)
    elif form.validate_on_submit():
        try:
            service.resend(session, item.id, service.parse_fields(form.fields.data or ""))
        except service.WritebackActionError as exc:
            session.rollback()
            form.fields.errors = [*form.fields.errors, str(exc)]
            status = 400
        else:
            session.commit()
            flash(_("再送の待ち行列に戻しました。"), "success")
            return redirect(url_for("writeback.error_queue"))
    else:
        status = 400
    return render_template("writeback/item.html", item=item, form=form, discard_form=DiscardForm()), status


@bp.route("/admin/writeback/<int:item_id>/discard", methods=["POST"])
@role_required("admin")
def discard(item_id: int) -> ResponseReturnValue:
    """Give up on a failed item."""
    form = DiscardForm()
    if not form.validate_on_submit():
        abort(400)
    session = db.session()
    try:
        service.discard(session, item_id)
    except service.WritebackActionError as exc:
        session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("writeback.item_detail", item_id=item_id))
    session.commit()
    flash(_("破棄しました。"), "success")
    return redirect(url_for("writeback.error_queue"))
