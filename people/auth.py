"""Sign-in machinery: password hashing, Flask-Login, CSRF, and the role check for views."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

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
# Verified against when the email has no (active) account, so a sign-in takes the same time
# whether or not the account exists (otherwise timing tells which emails have accounts).
_DUMMY_HASH = _hasher.hash("tsunagi: no such account")


def hash_password(password: str) -> str:
    """An argon2id hash of `password`."""
    return _hasher.hash(password)


def check_password(user: User | None, password: str) -> bool:
    """True when `password` matches the user's stored hash; False for no user or an inactive one.

    Always verifies one argon2 hash (a dummy one when there is no usable account), so the answer
    takes as long for an unknown email as for a wrong password.
    """
    usable = user is not None and user.active
    try:
        matches = _hasher.verify(user.password_hash if usable and user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return usable and matches


def end_sessions(user: User) -> None:
    """Make every session cookie of `user` made so far stop working (sign-out, password change)."""
    user.session_version = (user.session_version or 0) + 1


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

        return cast(F, wrapped)

    return decorator


login_manager = LoginManager()


def _load_user(session_id: str) -> User | None:
    """The user of a session id `<user id>:<session version>`, checked on every request.

    A session made before the user's latest sign-out or password change names an older version
    and loads nobody (so does one from before versions existed: those people sign in again).
    """
    user_id, _, version = session_id.partition(":")
    if not user_id.isdigit() or not version.isdigit():
        return None
    user = db.session().get(User, int(user_id))
    if user is None or not user.active or user.session_version != int(version):
        return None
    return user


def init_login(app: Flask) -> None:
    """Wire Flask-Login and CSRF protection into the app."""
    login_manager.login_view = "people.login"
    login_manager.login_message = None
    login_manager.session_protection = "strong"
    login_manager.user_loader(_load_user)
    login_manager.init_app(app)
    csrf.init_app(app)
