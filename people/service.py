"""People: creating and changing users, and recording every admin change in the audit log."""

from __future__ import annotations

from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from people import queries
from people.auth import end_sessions, hash_password
from people.models import ROLES, AuditEntry, User
from web.i18n import gettext as _

MIN_PASSWORD_LENGTH = 10
# update_user's default for a value the caller does not change.
UNCHANGED: Any = object()


class UserError(ValueError):
    """A user cannot be created or changed as asked; the message says why."""


def _snapshot(user: User) -> dict[str, Any]:
    # What the audit log keeps of a user: never the password hash.
    snapshot: dict[str, Any] = {"email": user.email, "name": user.name, "role": user.role, "active": user.active}
    if user.salesforce_user_id:
        snapshot["salesforce_user_id"] = user.salesforce_user_id
    return snapshot


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(_("パスワードは%(n)d文字以上にしてください。", n=MIN_PASSWORD_LENGTH))


def create_user(session: Session, email: str, role: str, password: str, name: str = "") -> User:
    """Add a person; the email must be valid and new, the role known, the password 10+ characters.

    The creation is audit-logged (by the signed-in admin, or the system from the CLI).
    """
    if role not in ROLES:
        raise UserError(_("役割は %(roles)s のいずれかです。", roles=", ".join(ROLES)))
    try:
        email = validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise UserError(_("メールアドレスが正しくありません: %(reason)s", reason=exc)) from None
    _check_password(password)
    if session.scalar(select(User.id).where(func.lower(User.email) == email)) is not None:
        raise UserError(_("%(email)s はすでに登録されています。", email=email))
    user = User(email=email, role=role, name=name.strip(), password_hash=hash_password(password), active=True)
    session.add(user)
    session.flush()
    audit(session, "user.create", user.email, None, _snapshot(user))
    return user


def _would_leave_no_admin(session: Session, user: User, role: str, active: bool) -> bool:
    losing_admin = user.role == "admin" and user.active and (role != "admin" or not active)
    return losing_admin and (session.scalar(queries.active_admin_count()) or 0) <= 1


def update_user(session: Session, user: User, *, name: str, role: str, active: bool,
                acting_user_id: int | None = None, salesforce_user_id: Any = UNCHANGED) -> bool:
    """Change a user's name, role, whether they may sign in, and their Salesforce User; True when anything changed.

    Refuses to lock out the last active admin, and an admin cannot deactivate or demote
    themselves (another admin must), so nobody loses access by a slip of the mouse.
    """
    if role not in ROLES:
        raise UserError(_("役割は %(roles)s のいずれかです。", roles=", ".join(ROLES)))
    if acting_user_id == user.id and (role != user.role or not active):
        raise UserError(_("自分自身の役割の変更や無効化はできません。別の管理者に依頼してください。"))
    if _would_leave_no_admin(session, user, role, active):
        raise UserError(_("有効な管理者が少なくとも1人必要です。"))
    before = _snapshot(user)
    user.name, user.role, user.active = name.strip(), role, active
    if salesforce_user_id is not UNCHANGED:  # left out by callers that do not show the choice
        user.salesforce_user_id = str(salesforce_user_id) if salesforce_user_id else None
    after = _snapshot(user)
    changed = {k for k in after.keys() | before.keys() if after.get(k) != before.get(k)}
    if not changed:
        return False
    audit(session, "user.update", user.email,
          {k: before.get(k) for k in sorted(changed)}, {k: after.get(k) for k in sorted(changed)})
    return True


def set_password(session: Session, user: User, password: str) -> None:
    """Give a user a new password (audit-logged without the password itself); ends their sessions."""
    _check_password(password)
    user.password_hash = hash_password(password)
    end_sessions(user)  # whoever knew the old password is signed out everywhere
    audit(session, "user.set_password", user.email, None, {"password": "changed"})


def audit(session: Session, action: str, target: str, before: Any = None, after: Any = None) -> None:
    """Record an admin change by the signed-in person (or the system, outside a request)."""
    user_id = None
    try:
        if current_user and current_user.is_authenticated:
            user_id = current_user.id
    except (RuntimeError, AttributeError):  # outside a request: a CLI or a job made the change
        user_id = None
    session.add(AuditEntry(user_id=user_id, action=action, target=target, before=before, after=after))
