"""Sign-in machinery: password hashing, Flask-Login, CSRF, and the role check for views."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, abort
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFProtect

import db
from people.models import ROLES, User

F = TypeVar("F", bound=Callable[..., Any])

_hasher = PasswordHasher()
csrf = CSRFProtect()


def hash_password(password: str) -> str:
    """An argon2id hash of `password`."""
    return _hasher.hash(password)


def check_password(user: User, password: str) -> bool:
    """True when `password` matches the user's stored hash."""
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def role_required(*roles: str) -> Callable[[F], F]:
    """Allow a view only to signed-in people with one of `roles` (admins may enter everywhere).

    Signed-out visitors are sent to the sign-in page; signed-in people without the role get 403.
    """
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role != "admin" and current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


login_manager = LoginManager()


def _load_user(user_id: str) -> User | None:
    if not user_id.isdigit():
        return None
    user = db.session().get(User, int(user_id))
    return user if user is not None and user.active else None


def init_login(app: Flask) -> None:
    """Wire Flask-Login and CSRF protection into the app."""
    login_manager.login_view = "people.login"
    login_manager.login_message = None
    login_manager.session_protection = "strong"
    login_manager.user_loader(_load_user)
    login_manager.init_app(app)
    csrf.init_app(app)
