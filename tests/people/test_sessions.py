"""Attacks on sign-in (issue 13, item 7): copied session cookies and account enumeration by timing."""

from __future__ import annotations

import time

from sqlalchemy import select

import db
from people.models import User
from people.service import create_user
from tests.fixtures.app import TEST_PASSWORD


def copy_session(source, app):
    """A new browser holding a copy of `source`'s session cookie (as an attacker who stole it)."""
    thief = app.test_client()
    thief.set_cookie("session", source.get_cookie("session").value)
    return thief


def signed_in(client) -> bool:
    return client.get("/").status_code == 200


def test_a_copied_session_cookie_stops_working_when_its_owner_signs_out(app, sign_in):
    owner = sign_in("operator")
    thief = copy_session(owner, app)
    assert signed_in(thief)
    assert owner.post("/logout").status_code == 302
    assert not signed_in(thief)
    assert thief.get("/").headers["Location"].startswith("/login")


def test_a_password_change_ends_every_session_of_that_person(app, sign_in):
    victim = sign_in("sales")
    thief = copy_session(victim, app)
    with db.get_db(app).sessionmaker() as session:
        user_id = session.scalar(select(User.id).where(User.role == "sales"))
    admin = sign_in("admin")
    response = admin.post(f"/admin/users/{user_id}", data={"name": "", "role": "sales", "active": "y",
                                                         "new_password": "a-brand-new-password"})
    assert response.status_code == 302
    assert not signed_in(thief) and not signed_in(victim)
    assert signed_in(admin)


def test_an_admin_changing_their_own_password_stays_signed_in_here_only(app, sign_in):
    admin = sign_in("admin")
    other_tab = copy_session(admin, app)
    with db.get_db(app).sessionmaker() as session:
        user_id = session.scalar(select(User.id).where(User.role == "admin"))
    response = admin.post(f"/admin/users/{user_id}", data={"name": "", "role": "admin", "active": "y",
                                                         "new_password": "a-brand-new-password"})
    assert response.status_code == 302
    assert signed_in(admin) and not signed_in(other_tab)


def test_sign_in_takes_as_long_for_an_unknown_email_as_for_a_wrong_password(app):
    """Timing must not tell which emails have accounts (argon2 is verified either way)."""
    with db.get_db(app).transaction() as session:
        for n in range(4):
            create_user(session, f"known{n}@example.jp", "operator", TEST_PASSWORD)
    client = app.test_client()

    def attempt(email: str) -> float:
        started = time.perf_counter()
        response = client.post("/login", data={"email": email, "password": "wrong password!"})
        assert response.status_code == 200 and "パスワードが違います" in response.get_data(as_text=True)
        return time.perf_counter() - started

    known, unknown = [], []
    for n in range(4):  # interleaved, each email once (the throttle counts per email)
        known.append(attempt(f"known{n}@example.jp"))
        unknown.append(attempt(f"nobody{n}@example.jp"))
    # Before: ~7 ms against ~150 ms. The fastest of each is compared to keep scheduling noise out.
    assert min(unknown) > 0.5 * min(known)
