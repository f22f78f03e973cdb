"""Forms of the admin error queue."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, TextAreaField
from wtforms.validators import DataRequired, Length

from web.i18n import lazy_gettext as _l


class ResendForm(FlaskForm):
    """Corrected fields (a JSON object) and resend."""

    fields = TextAreaField(_l("送信する項目（JSON）"), validators=[
        DataRequired(_l("項目を入力してください。")), Length(max=100_000)])


class DiscardForm(FlaskForm):
    """Give up on an item (needs only the CSRF token)."""

    confirm = HiddenField(default="1")
