"""Admin pages under /admin/mail: outbox status, templates (edit, validate, preview), suppressions, dev inbox."""

from __future__ import annotations

import email
import email.policy
from datetime import timedelta
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import db
from config import settings_of
from config.production import is_development
from mail import admin_bp, testsend
from mail.compliance import suppress, unsuppress
from mail.consent import SKIP_REASONS, STATUS_LABELS
from mail.models import DevInboxMessage, MailTemplate, OutboxMail, Suppression
from mail.outbox import InvalidMail, normalize_address
from mail.templates import TemplateInvalid, get_template, preview, save_template
from people.auth import role_required
from people.service import audit
from web import found
from web.headers import allow_mail_preview
from web.i18n import gettext as _


@admin_bp.route("/")
@role_required("admin")
def outbox() -> ResponseReturnValue:
    """Outbox status counts, recent problems, and missing compliance settings."""
    session = db.session()
    counts = dict(session.execute(select(OutboxMail.status, func.count()).group_by(OutboxMail.status)).all())
    since = db.utcnow() - timedelta(days=7)
    problems = session.scalars(
        select(OutboxMail).where(OutboxMail.status.in_(("failed", "bounced", "skipped")),
                                 OutboxMail.created_at >= since)
        .order_by(OutboxMail.id.desc()).limit(50)
    ).all()
    unconfirmed = session.scalar(select(func.count()).select_from(OutboxMail).where(OutboxMail.unconfirmed)) or 0
    settings = settings_of()
    missing = [name for name, value in (("MAIL_SENDER_NAME", settings.mail_sender_name),
                                        ("MAIL_SENDER_ADDRESS", settings.mail_sender_address),
                                        ("MAIL_CONTACT", settings.mail_contact)) if not value]
    return render_template("mail/admin_outbox.html", counts=counts, problems=problems, unconfirmed=unconfirmed,
                           missing=missing, dev_inbox=not settings.smtp_url, skip_reasons=SKIP_REASONS,
                           status_labels=STATUS_LABELS)


@admin_bp.route("/templates")
@role_required("marketer")
def templates() -> ResponseReturnValue:
    """Every template."""
    rows = db.session().scalars(select(MailTemplate).order_by(MailTemplate.key)).all()
    return render_template("mail/admin_templates.html", templates=rows)


@admin_bp.route("/templates/new", methods=["GET", "POST"])
@admin_bp.route("/templates/<key>", methods=["GET", "POST"])
@role_required("marketer")
def edit_template(key: str | None = None) -> ResponseReturnValue:
    """Create or edit a template; 'preview' renders it against a mirrored record or placeholders."""
    session = db.session()
    existing = get_template(session, key) if key else None
    if key and existing is None:
        abort(404)
    if request.method == "GET":
        return render_template("mail/admin_template_edit.html", values=_template_values(existing), errors=[],
                               rendered=None, key=key, **_test_send_page(session, key))
    values = {name: request.form.get(name, "") for name in ("key", "name", "subject", "html", "text", "record_id")}
    if key:
        values["key"] = key
    errors: list[str] = []
    rendered = None
    try:
        if request.form.get("action") == "preview":
            rendered = preview(session, subject=values["subject"], html=values["html"], text=values["text"] or None,
                               record_id=values["record_id"].strip() or None)
        else:
            old = get_template(session, values["key"].strip())
            before = _template_snapshot(old) if old is not None else None
            saved = save_template(session, key=values["key"].strip(), name=values["name"],
                                  subject=values["subject"], html=values["html"], text=values["text"] or None)
            after = _template_snapshot(saved)
            if before != after:
                audit(session, "mail.save_template", saved.key, before=before, after=after)
            held = _hold_broadcasts(session, saved.key) if old is not None else []
            session.commit()
            flash(_("テンプレートを保存しました。"), "success")
            if held:
                flash(_("承認済みの一斉配信（%(names)s）はこのテンプレートを使うため無効にしました。"
                        "もう一度承認を受けてから開始してください。", names="、".join(held)), "warning")
            return redirect(url_for("mail_admin.edit_template", key=values["key"].strip()))
    except TemplateInvalid as exc:
        session.rollback()
        errors = exc.errors
    status = 400 if errors else 200
    if rendered is not None:
        allow_mail_preview()
    return render_template("mail/admin_template_edit.html", values=values, errors=errors, rendered=rendered,
                           key=key, **_test_send_page(session, key)), status


def _template_values(existing: MailTemplate | None) -> dict[str, str]:
    if existing is None:
        return {"key": "", "name": "", "subject": "", "html": "", "text": ""}
    return {"key": existing.key, "name": existing.name, "subject": existing.subject, "html": existing.html,
            "text": existing.text or ""}


def _test_send_page(session: Session, key: str | None, form: dict[str, str] | None = None,
                    errors: list[str] | None = None, candidates: list[dict[str, str]] | None = None,
                    ) -> dict[str, Any]:
    """What the test-send section of a template's page shows: the form and the template's recent tests."""
    if not key:
        return {"test_send": None}
    return {"test_send": {
        "action": url_for("mail_admin.test_send_template", key=key),
        "form": form or {"to": current_user.email, "sample": ""}, "errors": errors or [],
        "candidates": candidates or [], "tests": testsend.recent_tests(session, f"template:{key}"),
        "status_labels": STATUS_LABELS, "skip_reasons": SKIP_REASONS}}


@admin_bp.route("/templates/<key>/test-send", methods=["POST"])
@role_required("marketer")
def test_send_template(key: str) -> ResponseReturnValue:
    """Send the saved template, rendered with sample data, to a named test address (marked as a test)."""
    session = db.session()
    existing = found(get_template(session, key))
    form = {"to": request.form.get("to", "")[:254], "sample": (request.form.get("sample_id")
                                                               or request.form.get("sample", ""))[:100],
            "confirm_customer": request.form.get("confirm_customer", "")}
    def shown_again(errors: list[str], candidates: list[dict[str, str]] | None = None) -> ResponseReturnValue:
        return render_template("mail/admin_template_edit.html", values=_template_values(existing), errors=[],
                               rendered=None, key=key,
                               **_test_send_page(session, key, form, errors, candidates)), 400

    try:
        address = testsend.check_address(session, form["to"], bool(form["confirm_customer"]), current_user)
        record, candidates = testsend.sample_person(session, form["sample"])
        if candidates:
            return shown_again([_("サンプルのお客様が複数見つかりました。1 人選んでください。")], candidates)
        testsend.send_test(session, to=address, template_key=key, context=testsend.template_context(session, record),
                           marketing=True, what=f"template:{key}", by=current_user)
        session.commit()
    except testsend.TestSendError as exc:
        session.rollback()
        return shown_again([str(exc)])
    flash(_("%(address)s にテストメールを送りました（件名に【テスト】が付きます）。", address=address), "success")
    return redirect(url_for("mail_admin.edit_template", key=key) + "#test-send")


def _hold_broadcasts(session: Session, key: str) -> list[str]:
    """Approved broadcasts using the changed template need approval again (automations.approvals)."""
    from automations.approvals import hold_after_template_change  # an upward edge listed in pyproject

    return hold_after_template_change(session, key)


def _template_snapshot(row: MailTemplate) -> dict[str, str | None]:
    """What the audit log keeps of a template: its whole text, so a change can be reviewed."""
    return {"name": row.name, "subject": row.subject, "html": row.html, "text": row.text}


@admin_bp.route("/suppressions", methods=["GET", "POST"])
@role_required("admin")
def suppressions() -> ResponseReturnValue:
    """The suppression list: search, add (manual), remove."""
    session = db.session()
    error = None
    if request.method == "POST":
        address = request.form.get("address", "")
        try:
            normalized, _domain = normalize_address(address)
        except InvalidMail:
            error = _("メールアドレスの形式が正しくありません。")
        else:
            before = _suppression_snapshot(session.get(Suppression, normalized))
            if request.form.get("action") == "remove":
                unsuppress(session, normalized)
                after = _suppression_snapshot(session.get(Suppression, normalized))
                if after is not None:  # the owner unsubscribed: that stays (mail.compliance.unsuppress)
                    flash(_("手動の停止は外しましたが、本人が配信停止しているためマーケティングメールは送られません。"),
                          "warning")
                else:
                    flash(_("配信停止リストから外しました。"), "success")
                verb = "unsuppress"
            else:
                suppress(session, normalized, reason="manual", source="admin")
                after = _suppression_snapshot(session.get(Suppression, normalized))
                flash(_("配信停止リストに追加しました。"), "success")
                verb = "suppress"
            if before != after:
                audit(session, f"mail.{verb}", normalized, before=before, after=after)
            session.commit()
            return redirect(url_for("mail_admin.suppressions"))
    query = request.args.get("q", "").strip().lower()
    stmt = select(Suppression).order_by(Suppression.created_at.desc()).limit(200)
    if query:
        stmt = stmt.where(Suppression.address.contains(query, autoescape=True))
    rows = session.scalars(stmt).all()
    return render_template("mail/admin_suppressions.html", rows=rows, q=query, error=error), (400 if error else 200)


def _suppression_snapshot(row: Suppression | None) -> dict[str, str] | None:
    """What the audit log keeps of a suppression entry."""
    return None if row is None else {"reason": row.reason, "source": row.source}


def _development_only() -> None:
    """The dev inbox exists in development (debug mode, tests) only: 404 in production."""
    if not is_development(current_app):
        abort(404)


@admin_bp.route("/inbox")
@role_required("admin")
def inbox() -> ResponseReturnValue:
    """Messages captured by the development inbox, newest first (development only)."""
    _development_only()
    rows = db.session().scalars(select(DevInboxMessage).order_by(DevInboxMessage.id.desc()).limit(200)).all()
    return render_template("mail/admin_inbox.html", rows=rows)


@admin_bp.route("/inbox/<int:message_id>")
@role_required("admin")
def inbox_message(message_id: int) -> ResponseReturnValue:
    """One captured message: headers, the HTML part in a sandboxed frame, the text part and the raw source."""
    _development_only()
    row = found(db.session().get(DevInboxMessage, message_id))
    message = email.message_from_bytes(row.raw, policy=email.policy.default)
    html_part = message.get_body(preferencelist=("html",))
    text_part = message.get_body(preferencelist=("plain",))
    allow_mail_preview()
    return render_template(
        "mail/admin_inbox_message.html", row=row, headers=list(message.items()),
        html=html_part.get_content() if html_part is not None else "",
        text=text_part.get_content() if text_part is not None else "",
        raw=row.raw.decode("utf-8", "replace"),
    )
