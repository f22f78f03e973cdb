"""Forms of the people package: sign-in and user administration."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional, ValidationError

from people.models import ROLES
from web.i18n import lazy_gettext as _l

ROLE_LABELS = {"operator": _l("オペレーター"), "sales": _l("営業"), "marketer": _l("マーケティング担当"),
               "admin": _l("管理者")}


def role_choices() -> list[tuple[str, str]]:
    """(value, label) of every role, in the order of ROLES."""
    return [(role, str(ROLE_LABELS[role])) for role in ROLES]


class LoginForm(FlaskForm):
    """Email and password."""

    email = EmailField(_l("メールアドレス"), validators=[
        DataRequired(_l("メールアドレスを入力してください。")), Length(max=254)])
    password = PasswordField(_l("パスワード"), validators=[
        DataRequired(_l("パスワードを入力してください。")), Length(max=200)])


class UserCreateForm(FlaskForm):
    """An admin adds a person."""

    email = EmailField(_l("メールアドレス"), validators=[
        DataRequired(_l("メールアドレスを入力してください。")), Email(_l("メールアドレスが正しくありません。")),
        Length(max=254)])
    name = StringField(_l("氏名"), validators=[Optional(), Length(max=100)])
    role = SelectField(_l("役割"), choices=role_choices, validators=[DataRequired()])
    password = PasswordField(_l("初期パスワード（10文字以上）"), validators=[
        DataRequired(_l("パスワードを入力してください。")),
        Length(min=10, max=200, message=_l("パスワードは10文字以上200文字以内にしてください。"))])


class UserEditForm(FlaskForm):
    """An admin changes a person's name, role, whether they may sign in, or password."""

    name = StringField(_l("氏名"), validators=[Optional(), Length(max=100)])
    role = SelectField(_l("役割"), choices=role_choices, validators=[DataRequired()])
    active = BooleanField(_l("サインインを許可する"))
    # Choices are the mirrored Salesforce Users (set by the page): a typed Id could name anyone.
    # Not posted (an older page, a script): left as it is; posted, it must be one of the choices.
    salesforce_user_id = SelectField(_l("Salesforce のユーザー（営業: 担当のお客様と電話番号）"), choices=[],
                                     validate_choice=False, validators=[Optional()])

    def validate_salesforce_user_id(self, field: SelectField) -> None:
        """A posted Salesforce User must be one the page offered (a synced User, or none)."""
        if field.raw_data and field.data not in {value for value, _label in field.choices or []}:
            raise ValidationError(_l("同期済みの Salesforce ユーザーから選んでください。"))
    new_password = PasswordField(_l("新しいパスワード（変更するときだけ）"), validators=[
        Optional(), Length(min=10, max=200, message=_l("パスワードは10文字以上200文字以内にしてください。"))])
