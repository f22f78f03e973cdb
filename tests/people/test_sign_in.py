"""Sign-in hardening: rate limiting, session cookies, role checks on views."""

from __future__ import annotations

from tests.fixtures.app import TEST_PASSWORD


def fail(client, email: str, address: str = "192.0.2.10"):
    return client.post("/login", data={"email": email, "password": "wrong password!"},
                       environ_base={"REMOTE_ADDR": address})


def test_five_failures_block_that_email_from_that_address_even_with_the_right_password(client, sign_in):
    sign_in("operator")
    for _ in range(5):
        assert fail(client, "operator1@example.jp").status_code == 200
    blocked = client.post("/login", data={"email": "operator1@example.jp", "password": TEST_PASSWORD},
                          environ_base={"REMOTE_ADDR": "192.0.2.10"})
    assert blocked.status_code == 429
    assert "15分後にもう一度お試しください" in blocked.get_data(as_text=True)
    # The same person at another desk is not locked out.
    elsewhere = client.post("/login", data={"email": "operator1@example.jp", "password": TEST_PASSWORD},
                            environ_base={"REMOTE_ADDR": "192.0.2.99"})
    assert elsewhere.status_code == 302


def test_a_successful_sign_in_clears_earlier_failures(app, sign_in):
    sign_in("sales")
    client = app.test_client()
    for _ in range(4):
        fail(client, "sales1@example.jp")
    ok = client.post("/login", data={"email": "sales1@example.jp", "password": TEST_PASSWORD},
                     environ_base={"REMOTE_ADDR": "192.0.2.10"})
    assert ok.status_code == 302
    other = app.test_client()
    for _ in range(4):
        assert fail(other, "sales1@example.jp").status_code == 200


def test_session_cookie_is_secure_httponly_and_samesite_on_https(make_app):
    app = make_app(environ={"PUBLIC_BASE_URL": "https://tsunagi.example.jp"})
    import db
    from people.service import create_user

    with db.get_db(app).transaction() as session:
        create_user(session, "a@example.jp", "operator", TEST_PASSWORD)
    response = app.test_client().post("/login", data={"email": "a@example.jp", "password": TEST_PASSWORD},
                                      base_url="https://tsunagi.example.jp")
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_sales_cannot_open_an_operator_only_page_but_admin_can(app, sign_in):
    from people.auth import role_required

    @app.route("/test-operator-only")
    @role_required("operator")
    def operator_only():
        return "operator page"

    assert sign_in("operator").get("/test-operator-only").status_code == 200
    assert sign_in("sales").get("/test-operator-only").status_code == 403
    assert sign_in("admin").get("/test-operator-only").status_code == 200


def test_sign_in_does_not_redirect_to_another_site(app, sign_in):
    sign_in("operator")
    client = app.test_client()
    response = client.post("/login?next=//evil.example/steal", data={
        "email": "operator1@example.jp", "password": TEST_PASSWORD})
    assert response.headers["Location"] == "/"


def test_users_create_command_creates_a_person_and_audits_it_as_the_system(runner, app):
    result = runner.invoke(args=["users", "create", "cli@example.jp", "--role", "admin",
                                 "--password", "cli-password-123"])
    assert result.exit_code == 0, result.output
    from sqlalchemy import select

    import db
    from people.models import AuditEntry

    with db.get_db(app).sessionmaker() as session:
        entry = session.scalars(select(AuditEntry)).one()
    assert (entry.action, entry.target, entry.user_id) == ("user.create", "cli@example.jp", None)
    again = runner.invoke(args=["users", "create", "cli@example.jp", "--role", "admin",
                                "--password", "cli-password-123"])
    assert again.exit_code != 0 and "すでに登録されています" in again.output
