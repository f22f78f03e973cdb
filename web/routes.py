"""Home page: each role lands on what it uses most."""

from __future__ import annotations

from flask import render_template
from flask_login import current_user

from people.auth import role_required
from web import bp


@bp.route("/")
@role_required("operator", "sales", "admin")
def home():  # type: ignore[no-untyped-def]
    """The signed-in person's home page, chosen by role."""
    return render_template(f"home_{current_user.role}.html")
