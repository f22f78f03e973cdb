"""People who sign in, and the audit log of admin changes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from db import Base, utcnow

# marketer: prepares automations, broadcasts and templates and sends tests; a broadcast above
# BROADCAST_APPROVAL_THRESHOLD needs an admin's approval (automations.approvals).
ROLES = ("operator", "sales", "marketer", "admin")


class User(Base):
    """A person who signs in to tsunagi with one role."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    # Part of the signed-in session's id: bumped on sign-out and password change, so every session
    # cookie made before stops working (the cookie is signed by us, but a copy of it is not revoked
    # by deleting it from one browser).
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")
    # The Salesforce User this person is (a field rep's customers are the records they own; their
    # phone goes in the absent follow-up mail). None: the mirrored User with the same email, if any.
    salesforce_user_id: Mapped[str | None] = mapped_column(String(18))

    # Flask-Login protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        """The id stored in the session: `<user id>:<session version>` (see people.auth)."""
        return f"{self.id}:{self.session_version}"


class AuditEntry(Base):
    """Who changed what, when, with the values before and after."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(100))
    target: Mapped[str] = mapped_column(String(200), default="")
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]


class LoginThrottle(Base):
    """Failed sign-ins of one email from one address, to slow down password guessing.

    Kept in the database (not in process memory) so every web worker on every machine sees
    the same count.
    """

    __tablename__ = "login_throttle"

    # sha256 of "email|ip": the table never holds who tried from where in clear text.
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    window_started_at: Mapped[datetime] = mapped_column(default=utcnow)
    blocked_until: Mapped[datetime | None]
