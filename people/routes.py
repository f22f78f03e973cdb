"""Sign-in and sign-out pages."""

from __future__ import annotations

from urllib.parse import urlparse

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_user, logout_user

import db
from people import bp, queries, throttle
from people.auth import check_password, end_sessions
from people.forms import LoginForm
from web.i18n import gettext as _


def _safe_next(target: str | None) -> str:
    # Only same-site relative paths: an absolute or scheme-relative URL would be an open redirect.
    if target and target.startswith("/") and not target.startswith("//") and not urlparse(target).netloc:
        return target
    return url_for("web.home")


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """Show the sign-in form and sign a person in (at most 5 failures per email and address)."""
    form = LoginForm()
    if form.validate_on_submit():
        session = db.session()
        email = (form.email.data or "").strip().lower()
        address = request.remote_addr or ""
        if throttle.blocked_until(session, email, address) is not None:
            # Not even checking the password: a blocked guesser learns nothing more.
            flash(_("サインインの失敗が続いたため、しばらく受け付けません。15分後にもう一度お試しください。"), "error")
            return render_template("people/login.html", form=form), 429
        user = session.scalar(queries.user_by_email(email))
        if check_password(user, form.password.data or "") and user is not None:
            throttle.clear(session, email, address)
            login_user(user)
            user.last_login_at = db.utcnow()
            session.commit()
            return redirect(_safe_next(request.args.get("next")))
        throttle.record_failure(session, email, address)
        session.commit()
        flash(_("メールアドレスまたはパスワードが違います。"), "error")
    return render_template("people/login.html", form=form), (400 if form.errors else 200)


@bp.route("/logout", methods=["POST"])
def logout() -> ResponseReturnValue:
    """Sign out (POST only, so a link on another site cannot sign you out).

    Every session cookie of this person stops working, not just this browser's: a copy of the
    cookie (another tab's, a stolen one) must not outlive the sign-out.
    """
    if current_user.is_authenticated:
        end_sessions(current_user)
        db.session().commit()
    logout_user()
    return redirect(url_for("people.login"))
