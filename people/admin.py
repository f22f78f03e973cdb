"""Admin pages: list, add and change users; read the audit log. Admins only; every change audited."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_user
from sqlalchemy.orm import Session

import db
from people import audit_view, bp, queries
from people.auth import role_required
from people.forms import ROLE_LABELS, UserCreateForm, UserEditForm
from people.models import User
from people.service import UNCHANGED, UserError, create_user, set_password, update_user
from web.i18n import gettext as _

AUDIT_PAGE_SIZE = 50


@bp.route("/admin/users")
@role_required("admin")
def users() -> ResponseReturnValue:
    """Everyone who can (or could) sign in."""
    people = db.session().scalars(queries.users_by_role_and_email()).all()
    return render_template("people/users.html", users=people, role_labels=ROLE_LABELS)


@bp.route("/admin/users/new", methods=["GET", "POST"])
@role_required("admin")
def user_new() -> ResponseReturnValue:
    """Add a person with a role and an initial password."""
    form = UserCreateForm()
    if form.validate_on_submit():
        session = db.session()
        try:
            user = create_user(session, form.email.data or "", form.role.data or "", form.password.data or "",
                               form.name.data or "")
        except UserError as exc:
            session.rollback()
            form.email.errors = [*form.email.errors, str(exc)]
        else:
            session.commit()
            flash(_("%(email)s を追加しました。", email=user.email), "ok")
            return redirect(url_for("people.users"))
    return render_template("people/user_new.html", form=form), (400 if form.errors else 200)


@bp.route("/admin/users/<int:user_id>", methods=["GET", "POST"])
@role_required("admin")
def user_edit(user_id: int) -> ResponseReturnValue:
    """Change a person's name, role, access or password."""
    session = db.session()
    user = session.get(User, user_id)
    if user is None:
        abort(404)
    form = UserEditForm(obj=user) if request.method == "GET" else UserEditForm()
    form.salesforce_user_id.choices = _salesforce_user_choices(session, user)
    if request.method == "GET":
        form.salesforce_user_id.data = user.salesforce_user_id or ""
    if form.validate_on_submit():
        try:
            changed = update_user(session, user, name=form.name.data or "", role=form.role.data or "",
                                  active=bool(form.active.data), acting_user_id=current_user.id,
                                  salesforce_user_id=(form.salesforce_user_id.data or None)
                                  if form.salesforce_user_id.raw_data else UNCHANGED)
            if form.new_password.data:
                set_password(session, user, form.new_password.data)
                changed = True
        except UserError as exc:
            session.rollback()
            form.role.errors = [*form.role.errors, str(exc)]
        else:
            session.commit()
            if form.new_password.data and user.id == current_user.id:
                login_user(user)  # the admin's own other sessions end; this one carries on
            flash(_("%(email)s を更新しました。", email=user.email) if changed else _("変更はありません。"), "ok")
            return redirect(url_for("people.users"))
    return render_template("people/user_edit.html", form=form, user=user), (400 if form.errors else 200)


def _salesforce_user_choices(session: Session, user: User) -> list[tuple[str, str]]:
    """The Salesforce Users a person can be; the current choice stays listed even if no longer synced."""
    from people.sf_user import user_choices

    choices = [("", str(_("（未設定: 同じメールアドレスのユーザー）"))), *user_choices(session)]
    if user.salesforce_user_id and user.salesforce_user_id not in {c[0] for c in choices}:
        choices.append((user.salesforce_user_id, user.salesforce_user_id))
    return choices


@bp.route("/admin/audit")
@role_required("admin")
def audit_log() -> ResponseReturnValue:
    """Admin changes, newest first: who, what, when, before and after."""
    before = request.args.get("before", type=int)
    rows = db.session().execute(queries.audit_page(AUDIT_PAGE_SIZE + 1, before)).all()
    more = len(rows) > AUDIT_PAGE_SIZE
    rows = rows[:AUDIT_PAGE_SIZE]
    next_before = rows[-1][0].id if more and rows else None
    return render_template("people/audit.html", rows=rows, next_before=next_before, changes=audit_view.changes)
