"""Sign-in, roles and CSRF."""

from tests.fixtures.app import TEST_PASSWORD


def test_signed_out_visitor_is_sent_to_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_wrong_password_is_refused_with_a_message(client, sign_in):
    sign_in("operator")  # creates operator1@example.jp
    response = client.post("/login", data={"email": "operator1@example.jp", "password": "wrong password"})
    assert response.status_code == 200
    assert "パスワードが違います" in response.get_data(as_text=True)


def test_sign_in_then_home_page(sign_in):
    client = sign_in("operator")
    assert client.get("/").status_code == 200


def test_post_without_csrf_token_is_refused(make_app):
    app = make_app(config={"WTF_CSRF_ENABLED": True})
    response = app.test_client().post("/login", data={"email": "a@example.jp", "password": TEST_PASSWORD})
    assert response.status_code == 400
