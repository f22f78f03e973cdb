"""Scoring pages: the public tracking endpoints and the admin's model editor and person view."""

from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select

import db
from config import settings_of
from config.validation import DocumentError
from people.auth import role_required
from people.service import audit
from scoring import bp, service, tracking
from scoring.models import PersonScore, ScoreThresholdCrossed, ScoringModel
from scoring.pixel import PIXEL
from sync import read
from web.i18n import gettext as _
from work.queue import enqueue

NO_STORE = {"Cache-Control": "no-store, max-age=0", "Pragma": "no-cache"}


@bp.route("/t/p.gif")
def pixel() -> Response:
    """Record one page view (public; the same GIF answers tracked, refused and bot hits alike).

    Anonymous hits are answered before Flask by scoring.pixel.PixelFastPath; this view serves the
    ones carrying a person token (`p`), which also link the visitor to the person.
    """
    settings = settings_of()
    response = Response(PIXEL, mimetype="image/gif", headers=NO_STORE)
    row = tracking.accepted_page_view(request.args, request.headers.get, settings.tracking_honour_dnt)
    if row is None:
        return response
    token = request.args.get("p", "")
    person_id = tracking.person_from_token(settings.secret_key, token) if token else None
    with db.transaction() as session:
        tracking.record_page_views(session, [row])
        if person_id is not None:
            tracking.link_visitor(session, row["visitor_id"], person_id, linked_by="mail")
    return response


@bp.route("/t/t.js")
def script() -> Response:
    """The tracking snippet for customers' sites (cacheable for an hour)."""
    settings = settings_of()
    body = tracking.snippet(settings.public_base_url, settings.tracking_honour_dnt, settings.tracking_cookie_days)
    return Response(body, mimetype="application/javascript",
                    headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"})


@bp.route("/admin/scoring", methods=["GET", "POST"])
@role_required("admin")
def admin_model() -> ResponseReturnValue:
    """Show, check and save the scoring model; list the top-scored people."""
    session = db.session()
    text = request.form.get("model", "") if request.method == "POST" else service.active_yaml(session)
    errors: list[str] = []
    if request.method == "POST":
        upload = request.files.get("file")
        if upload is not None and upload.filename:
            try:
                text = upload.read(256 * 1024).decode("utf-8")
            except UnicodeDecodeError:
                errors = [_("ファイルは UTF-8 の YAML にしてください。")]
        if not errors:
            try:
                before = service.active_definition(session).document
                definition = service.import_model(session, text, by=current_user.email)
                audit(session, "scoring.import_model", "active", before=before, after=definition.document)
                session.commit()

                enqueue(session, "scoring.rescore", {"reason": "スコアリングモデルの変更"})
                session.commit()
                flash(_("スコアリングモデルを保存しました。全員のスコアを再計算します。"), "success")
                return redirect(url_for("scoring.admin_model"))
            except DocumentError as exc:
                session.rollback()
                errors = exc.messages
    row = session.get(ScoringModel, service.ACTIVE)
    top = session.execute(select(PersonScore).order_by(PersonScore.score.desc(), PersonScore.person_id)
                          .limit(50)).scalars().all()
    return render_template("scoring/admin.html", model_text=text, errors=errors, model=row, top=top), \
        (400 if errors else 200)


@bp.route("/admin/scoring/export.yaml")
@role_required("admin")
def export_model() -> Response:
    """Download the model in force as YAML."""
    return Response(service.active_yaml(db.session()), mimetype="application/x-yaml",
                    headers={"Content-Disposition": "attachment; filename=scoring.yaml"})


@bp.route("/admin/scoring/people/<person_id>")
@role_required("admin", "sales")
def person(person_id: str) -> ResponseReturnValue:
    """One person's score, stage, history with reasons, and hand-offs."""
    if not person_id.isalnum() or len(person_id) > 18:
        abort(404)
    session = db.session()
    score = session.get(PersonScore, person_id)
    if score is None:
        abort(404)
    record = read.record(session, person_id)
    crossings = session.scalars(select(ScoreThresholdCrossed).where(ScoreThresholdCrossed.person_id == person_id)
                                .order_by(ScoreThresholdCrossed.id.desc())).all()
    return render_template("scoring/person.html", score=score, record=record,
                           history=service.score_history(session, person_id), crossings=crossings)
