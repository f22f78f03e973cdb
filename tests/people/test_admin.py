"""Admin pages for people: list, add, change, deactivate; every change in the audit log."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

import db
from people.models import AuditEntry, User
from tests.fixtures.app import TEST_PASSWORD


def user(app, email: str) -> User:
    with db.get_db(app).sessionmaker() as session:
        return session.scalars(select(User).where(User.email == email)).one()


def audit_rows(app) -> list[AuditEntry]:
    with db.get_db(app).sessionmaker() as session:
        return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


@pytest.mark.parametrize("path", ["/admin/users", "/admin/users/new", "/admin/audit", "/admin/users/1"])
def test_operator_and_sales_cannot_reach_admin_pages(sign_in, path):
    for role in ("operator", "sales"):
        response = sign_in(role).get(path)
        assert response.status_code == 403
        assert "権限がありません" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/admin/users", "/admin/audit", "/"])
def test_signed_out_visitor_is_sent_to_sign_in_and_back(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_admin_adds_a_person_who_can_then_sign_in(app, sign_in):
    admin = sign_in("admin")
    response = admin.post("/admin/users/new", data={
        "email": "Hanako@Example.jp", "name": "山田 花子", "role": "sales", "password": "a-long-password"})
    assert response.status_code == 302
    listing = admin.get("/admin/users").get_data(as_text=True)
    assert "hanako@example.jp" in listing and "山田 花子" in listing and "営業" in listing

    newcomer = app.test_client()
    signed_in = newcomer.post("/login", data={"email": "hanako@example.jp", "password": "a-long-password"})
    assert signed_in.status_code == 302
    assert "営業 ホーム" in newcomer.get("/").get_data(as_text=True)

    entry = audit_rows(app)[-1]
    assert entry.action == "user.create" and entry.target == "hanako@example.jp"
    assert entry.before is None
    assert entry.after == {"email": "hanako@example.jp", "name": "山田 花子", "role": "sales", "active": True}
    assert entry.user_id == user(app, "admin1@example.jp").id


def test_adding_a_person_twice_or_with_a_short_password_shows_why(sign_in):
    admin = sign_in("admin")
    data = {"email": "dup@example.jp", "name": "", "role": "operator", "password": "a-long-password"}
    assert admin.post("/admin/users/new", data=data).status_code == 302
    again = admin.post("/admin/users/new", data=data)
    assert again.status_code == 400
    assert "dup@example.jp はすでに登録されています" in again.get_data(as_text=True)
    short = admin.post("/admin/users/new", data={**data, "email": "new@example.jp", "password": "short"})
    assert short.status_code == 400
    assert "10文字以上" in short.get_data(as_text=True)


def test_role_change_is_audited_with_before_and_after(app, sign_in):
    admin = sign_in("admin")
    sign_in("operator")  # operator2@example.jp
    target = user(app, "operator2@example.jp")
    response = admin.post(f"/admin/users/{target.id}", data={"name": "", "role": "sales", "active": "y"})
    assert response.status_code == 302
    assert user(app, "operator2@example.jp").role == "sales"
    entry = audit_rows(app)[-1]
    assert (entry.action, entry.before, entry.after) == ("user.update", {"role": "operator"}, {"role": "sales"})

    page = admin.get("/admin/audit").get_data(as_text=True)
    assert "admin1@example.jp" in page and "operator2@example.jp" in page
    # The admin reads what happened in words and only what changed, not two JSON documents.
    assert 'title="user.update">ユーザーの変更</td>' in page
    assert '<code class="audit-key">role</code>: <code>operator</code> → <code>sales</code>' in page


def test_the_audit_log_lists_only_what_changed_in_a_long_document(app, sign_in):
    from people.audit_view import changes

    before = {"name": "訪問フォロー", "enabled": True, "actions": [{"type": "send_mail", "template": "a"}]}
    after = {**before, "enabled": False}
    assert [(c.key, c.before, c.after) for c in changes(before, after)] == [("enabled", "true", "false")]
    assert [(c.key, c.after) for c in changes(None, {"role": "sales"})] == [("role", "sales")]
    assert changes({"a": 1}, {"a": 1}) == []
    long = changes(None, {"actions": ["x" * 500]})[0].after
    assert len(long) == 120 and long.endswith("…")


def test_deactivated_person_is_signed_out_and_cannot_sign_in_again(app, sign_in):
    admin = sign_in("admin")
    operator = sign_in("operator")
    target = user(app, "operator2@example.jp")
    # An unchecked checkbox is simply absent from the form.
    assert admin.post(f"/admin/users/{target.id}", data={"name": "", "role": "operator"}).status_code == 302
    assert user(app, "operator2@example.jp").active is False
    assert operator.get("/").status_code == 302  # the open session no longer counts
    again = app.test_client().post("/login", data={"email": "operator2@example.jp", "password": TEST_PASSWORD})
    assert again.status_code == 200 and "パスワードが違います" in again.get_data(as_text=True)
    assert audit_rows(app)[-1].after == {"active": False}


def test_admin_cannot_demote_or_deactivate_themselves(app, sign_in):
    admin = sign_in("admin")
    me = user(app, "admin1@example.jp")
    response = admin.post(f"/admin/users/{me.id}", data={"name": "", "role": "operator", "active": "y"})
    assert response.status_code == 400
    assert "自分自身の役割の変更や無効化はできません" in response.get_data(as_text=True)
    assert user(app, "admin1@example.jp").role == "admin"


def test_the_last_active_admin_cannot_be_deactivated(app, sign_in, db_session):
    from people.service import UserError, update_user

    sign_in("admin")
    only_admin = db_session.scalars(select(User).where(User.role == "admin")).one()
    with pytest.raises(UserError, match="有効な管理者が少なくとも1人必要です"):
        update_user(db_session, only_admin, name="", role="admin", active=False)


def test_admin_sets_a_new_password_without_it_reaching_the_audit_log(app, sign_in):
    admin = sign_in("admin")
    sign_in("sales")
    target = user(app, "sales2@example.jp")
    response = admin.post(f"/admin/users/{target.id}",
                          data={"name": "", "role": "sales", "active": "y", "new_password": "brand-new-secret"})
    assert response.status_code == 302
    assert app.test_client().post("/login", data={"email": "sales2@example.jp",
                                                  "password": "brand-new-secret"}).status_code == 302
    entry = audit_rows(app)[-1]
    assert entry.action == "user.set_password" and "brand-new-secret" not in repr(entry.after)


def test_admin_form_post_without_csrf_token_is_refused(make_app):
    app = make_app(config={"WTF_CSRF_ENABLED": True})
    client = app.test_client()
    from people.service import create_user

    with db.get_db(app).transaction() as session:
        create_user(session, "boss@example.jp", "admin", TEST_PASSWORD)
    login_page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page).group(1)
    assert client.post("/login", data={"email": "boss@example.jp", "password": TEST_PASSWORD,
                                       "csrf_token": token}).status_code == 302
    response = client.post("/admin/users/new", data={
        "email": "x@example.jp", "role": "admin", "password": "a-long-password"})
    assert response.status_code == 400
    with db.get_db(app).sessionmaker() as session:
        assert session.scalar(select(User).where(User.email == "x@example.jp")) is None
