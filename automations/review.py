"""Admin pages that check an automation before it mails anyone: a test send of any mail step and
the approval of a large broadcast (/admin/automations/<key>/test-send, /admin/automations/<key>/approval)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select

import db
from automations import approvals, bp, queries
from automations.forms import ActionForm
from automations.models import Automation
from config import settings_of
from mail import testsend
from mail.consent import SKIP_REASONS, STATUS_LABELS
from people.auth import role_required
from people.models import User
from web import found
from web.headers import allow_mail_preview
from web.i18n import gettext as _

MAIL_ACTIONS = ("send_mail", "notify_owner")
# A form link in a test without a real sample person: clearly not a working link.
SAMPLE_LINK = "https://example.invalid/sample-form-link"


def automation_or_404(key: str) -> Automation:
    """The automation `key` (the 404 page when there is none), for the pages of one automation."""
    return found(db.session().scalar(queries.automation_by_key(key)))


def mail_steps(automation: Automation) -> list[tuple[str, str]]:
    """(value "step.action", label) of every mail an automation sends, in order."""
    steps = []
    for i, step in enumerate(automation.spec.get("steps", [])):
        for j, action in enumerate(step.get("actions", [])):
            if action.get("type") in MAIL_ACTIONS:
                name = step.get("name") or _("ステップ %(n)s", n=i + 1)
                steps.append((f"{i}.{j}", f"{i + 1}. {name} — {action['template']}"))
    return steps


def test_send_section(session: Any, automation: Automation, form: dict[str, str] | None = None,
                      errors: list[str] | None = None, candidates: list[dict[str, Any]] | None = None
                      ) -> dict[str, Any] | None:
    """The test-send section of an automation's page (None when it sends no mail)."""
    steps = mail_steps(automation)
    if not steps:
        return None
    return {"action": url_for("automations.test_send", key=automation.key), "steps": steps,
            "form": form or {"to": current_user.email, "sample": "", "step": steps[0][0]},
            "errors": errors or [], "candidates": candidates or [],
            "tests": testsend.recent_tests(session, f"automation:{automation.key}/"),
            "status_labels": STATUS_LABELS, "skip_reasons": SKIP_REASONS}


def _step_context(session: Any, automation: Automation, action: dict[str, Any], record: Any) -> dict[str, Any]:
    """The merge data a real run would give the step's mail, for the sample person (or built-in values)."""
    from automations.actions import mail_context
    from automations.conditions import Record
    from automations.jobs import runtime

    rt = runtime()
    if record is not None:
        person = Record(record.sf_id, record.object_name, dict(record.fields or {}))
        return mail_context(session, rt, automation, person, person, action.get("links"))
    person = Record("", "Lead", dict(testsend.SAMPLE_PERSON))
    context = mail_context(session, rt, automation, person, person, None)
    sample = testsend.template_context(session, None)
    context.update(account=sample["account"], owner=sample["owner"],
                   links={name: SAMPLE_LINK for name in (action.get("links") or {})})
    return context


@bp.route("/<key>/test-send", methods=["POST"])
@role_required("marketer")
def test_send(key: str) -> ResponseReturnValue:
    """Send one mail step of the automation, with sample data, to a named test address (marked as a test)."""
    from automations.routes import detail_page

    session = db.session()
    automation = automation_or_404(key)
    steps = dict(mail_steps(automation))
    form = {"to": request.form.get("to", "")[:254], "step": request.form.get("step", ""),
            "sample": (request.form.get("sample_id") or request.form.get("sample", ""))[:100],
            "confirm_customer": request.form.get("confirm_customer", "")}
    if form["step"] not in steps:
        return detail_page(automation, test_send_section(session, automation, form, [
            _("テスト送信するステップを選んでください。")])), 400
    i, j = (int(n) for n in form["step"].split("."))
    action = automation.spec["steps"][i]["actions"][j]
    try:
        address = testsend.check_address(session, form["to"], bool(form["confirm_customer"]), current_user)
        record, candidates = testsend.sample_person(session, form["sample"])
        if candidates:
            return detail_page(automation, test_send_section(session, automation, form, [
                _("サンプルのお客様が複数見つかりました。1 人選んでください。")], candidates)), 400
        context = _step_context(session, automation, action, record)
        marketing = action["type"] == "send_mail" and bool(action.get("marketing", True))
        testsend.send_test(session, to=address, template_key=action["template"], context=context,
                           marketing=marketing, what=f"automation:{key}/{form['step']}", by=current_user)
        session.commit()
    except testsend.TestSendError as exc:
        session.rollback()
        return detail_page(automation, test_send_section(session, automation, form, [str(exc)])), 400
    except ValueError as exc:  # a form link that cannot be signed, a context that is not JSON
        session.rollback()
        return detail_page(automation, test_send_section(session, automation, form, [
            _("テストメールを作れませんでした: %(msg)s", msg=str(exc))])), 400
    flash(_("%(address)s にテストメールを送りました（件名に【テスト】が付きます）。", address=address), "success")
    return redirect(url_for("automations.detail", key=key) + "#test-send")


@bp.route("/<key>/approval", methods=["GET", "POST"])
@role_required("marketer")
def approval(key: str) -> ResponseReturnValue:
    """The approval screen of a broadcast: recipients, the mail, the test sends; ask for or give approval."""
    session = db.session()
    automation = automation_or_404(key)
    if not approvals.is_broadcast(automation):
        abort(404)
    settings = settings_of()
    if request.method == "POST":
        if not ActionForm().validate_on_submit():
            abort(400)
        verb = request.form.get("action")
        try:
            if verb == "request":
                counted = approvals.count(session, automation, db.utcnow(), settings.timezone)
                approvals.ask(session, automation, counted, current_user)
                message = _("承認を依頼しました。別の管理者が承認すると開始できます。")
            elif verb == "approve":
                approvals.approve(session, automation, current_user)
                message = _("承認しました。この版の一斉配信を開始できます。")
            else:
                abort(400)
            session.commit()
        except approvals.ApprovalError as exc:
            session.rollback()
            flash(str(exc), "error")
            return redirect(url_for("automations.approval", key=key)), 303
        flash(message, "success")
        return redirect(url_for("automations.approval", key=key)), 303
    counted = approvals.count(session, automation, db.utcnow(), settings.timezone)
    session.rollback()  # nothing of a dry run is kept
    rows = approvals.history(session, automation)
    current = rows[0] if rows else None
    user_ids = {r.requested_by for r in rows} | {r.approved_by for r in rows}
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_({i for i in user_ids if i})))}
    preparers = approvals.preparers(session, automation, current if current and current.status == "pending"
                                    else None)
    versions = approvals.template_versions(session, automation)
    # A row approved or pending for another version (or other templates) no longer counts.
    states = {r.id: r.status if r.status == "void" or (r.version == automation.version and r.templates == versions)
              else "outdated" for r in rows}
    allow_mail_preview()
    return render_template(
        "automations/approval.html", automation=automation, counted=counted, result=counted.dry_run,
        at=datetime.fromisoformat(automation.spec["trigger"]["at"]),
        rows=rows, states=states, current=current, holds=approvals.holds(session, automation, current), users=users,
        is_preparer=current_user.id in preparers, form=ActionForm(),
        tests=testsend.recent_tests(session, f"automation:{automation.key}/"),
        status_labels=STATUS_LABELS, skip_reasons=SKIP_REASONS)
