"""Home page: each role lands on the links it uses most (from the navigation registry)."""

from __future__ import annotations

from flask import redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from people.auth import role_required
from web import bp
from web.i18n import gettext as _


def _welcome(role: str) -> tuple[str, str]:
    return {
        "operator": (_("オペレーター ホーム"), _("電話を受けながら、お客様の検索とフォームの入力ができます。")),
        "sales": (_("営業 ホーム"), _("訪問結果の入力と担当のお客様の確認ができます。")),
        "marketer": (_("マーケティング ホーム"),
                     _("テンプレート、オートメーション、一斉配信の準備とテスト送信ができます。")),
        "admin": (_("管理 ホーム"), _("同期、メール、フォーム、オートメーション、レポートとユーザーを管理します。")),
    }[role]


@bp.route("/")
@role_required("operator", "sales", "marketer", "admin")
def home() -> ResponseReturnValue:
    """The signed-in person's home page, chosen by role."""
    from web.nav import home_panels

    heading, intro = _welcome(current_user.role)
    return render_template("home.html", heading=heading, intro=intro, panels=home_panels(current_user.role))


@bp.route("/favicon.ico")
def favicon() -> ResponseReturnValue:
    """The tab icon for pages that link none (JSON answers): browsers ask for /favicon.ico."""
    return redirect(url_for("web.static", filename="favicon.svg"), code=301)
