"""Named statements of the people package."""

from __future__ import annotations

from sqlalchemy import Select, func, select

from people.models import AuditEntry, User


def users_by_role_and_email() -> Select[User]:
    """Every user, admins first, then by email."""
    return select(User).order_by(User.active.desc(), User.role, User.email)


def active_admin_count() -> Select[int]:
    """How many admins may sign in."""
    return select(func.count()).select_from(User).where(User.role == "admin", User.active.is_(True))


def user_by_email(email: str) -> Select[User]:
    """The user with `email`, compared case-insensitively."""
    return select(User).where(func.lower(User.email) == email.strip().lower())


def audit_page(limit: int, before_id: int | None = None) -> Select[AuditEntry, str | None]:
    """Audit entries newest first with the acting user's email (None for the system)."""
    stmt = (select(AuditEntry, User.email).outerjoin(User, AuditEntry.user_id == User.id)
            .order_by(AuditEntry.id.desc()).limit(limit))
    if before_id is not None:
        stmt = stmt.where(AuditEntry.id < before_id)
    return stmt
