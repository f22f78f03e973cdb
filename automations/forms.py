"""Admin forms of the automations pages (Flask-WTF: CSRF on every POST)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import DataRequired

from web.i18n import lazy_gettext as _l


class YamlForm(FlaskForm):
    """One automation or segment written as YAML."""

    document = TextAreaField(_l("定義（YAML）"), validators=[DataRequired(message=_l("定義を入力してください。"))])


class ActionForm(FlaskForm):
    """A bare POST (enable, disable) carrying only the CSRF token."""
