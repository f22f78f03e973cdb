"""Creating people and recording admin changes."""

from __future__ import annotations

from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from people.auth import hash_password
from people.models import ROLES, AuditEntry, User


class UserError(ValueError):
    """A user cannot be created or changed as asked; the message says why."""


def create_user(session: Session, email: str, role: str, password: str, name: str = "") -> User:
    """Add a person; the email must be valid and new, the role known, the password 10+ characters."""
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    try:
        email = validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise UserError(f"invalid email: {exc}") from None
    if len(password) < 10:
        raise UserError("password must be at least 10 characters")
    if session.scalar(select(User.id).where(func.lower(User.email) == email)) is not None:
        raise UserError(f"{email} already exists")
    user = User(email=email, role=role, name=name, password_hash=hash_password(password))
    session.add(user)
    session.flush()
    return user


def audit(session: Session, action: str, target: str, before: Any = None, after: Any = None) -> None:
    """Record an admin change by the signed-in person (or the system, outside a request)."""
    user_id = None
    try:
        if current_user and current_user.is_authenticated:
            user_id = current_user.id
    except RuntimeError:  # outside a request context: a CLI or a job made the change
        user_id = None
    session.add(AuditEntry(user_id=user_id, action=action, target=target, before=before, after=after))
