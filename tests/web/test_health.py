"""GET /healthz."""


def test_healthz_answers_200_with_json_when_the_database_is_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True


def test_healthz_answers_503_naming_the_database_when_it_is_down(make_app, tmp_path):
    app = make_app(database_url=f"sqlite:///{tmp_path}/missing-dir/nope/x.db")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["down"] == ["database"]
