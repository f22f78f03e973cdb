"""The scoring model: shipped default, YAML import/export (CLI and admin page), validation."""

from __future__ import annotations

import re

import pytest
import yaml

from config.validation import DocumentError
from db import get_db
from scoring import service
from scoring.definition import default_definition, parse_yaml
from tests.scoring.people import MODEL, add_activity, lead_id


@pytest.mark.db_independent
def test_shipped_default_follows_pardots_anchors():
    model = default_definition()
    assert model.rule("form_submit").points == 50
    assert model.rule("page_view").points == 1
    assert model.rule("mail_open").points == 10
    assert [s.name for s in model.stages] == ["情報収集", "比較検討", "導入検討"]
    assert min(r.points for r in model.fit) == -100


@pytest.mark.db_independent
@pytest.mark.parametrize(("text", "message"), [
    ("behaviour: [{name: a, kind: nope, points: 1}]", "unknown kind"),
    ("behaviour: [{name: a, kind: mail_open, points: ten}]", "points must be a whole number"),
    ("behaviour: [{name: a, kind: mail_open, points: 1}, {name: a, kind: mail_click, points: 1}]",
     "duplicate name"),
    ("fit: [{name: f, field: Industry, points: 3}]", "give in, min or max"),
    ("stages: [{name: 比較検討, min_score: 10, requires_any: [ghost]}]", "unknown rules"),
    ("decay: [{older_than_days: 0, keep_percent: 50}]", "older_than_days"),
    ("colour: blue", "unknown keys"),
    ("behaviour: [", "invalid YAML"),
])
def test_invalid_models_are_refused_with_the_reason(text, message):
    with pytest.raises(DocumentError, match=message):
        parse_yaml(text)


def test_cli_export_then_load_round_trips_the_model(runner, tmp_path, app):
    out = tmp_path / "model.yaml"
    result = runner.invoke(args=["scoring", "export", str(out)])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(out.read_text()) == default_definition().document
    custom = tmp_path / "custom.yaml"
    custom.write_text(MODEL, encoding="utf-8")
    result = runner.invoke(args=["scoring", "load", str(custom)])
    assert result.exit_code == 0, result.output
    assert "loaded 7 behaviour, 4 fit rules, 3 stages, 1 thresholds" in result.output
    result = runner.invoke(args=["scoring", "export"])
    assert yaml.safe_load(result.output) == yaml.safe_load(MODEL)


def test_cli_load_of_a_bad_file_fails_with_the_reason(runner, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("behaviour: [{name: a, kind: nope, points: 1}]")
    result = runner.invoke(args=["scoring", "load", str(bad)])
    assert result.exit_code != 0
    assert "unknown kind" in result.output


def test_cli_load_creates_the_default_hot_lead_mail_template(runner, app):
    from mail.templates import get_template

    result = runner.invoke(args=["scoring", "load", str(service.definition_path())])
    assert result.exit_code == 0, result.output
    with get_db(app).transaction() as s:
        assert get_template(s, "scoring-hot-lead") is not None


def test_admin_saves_a_model_and_sees_errors_in_japanese(sign_in, app):
    admin = sign_in("admin")
    page = admin.get("/admin/scoring")
    assert page.status_code == 200 and "form_submit" in page.get_data(as_text=True)
    refused = admin.post("/admin/scoring", data={"model": "behaviour: [{name: a, kind: nope, points: 1}]"})
    assert refused.status_code == 400
    assert "kind は" in refused.get_data(as_text=True)
    saved = admin.post("/admin/scoring", data={"model": MODEL})
    assert saved.status_code == 302
    with get_db(app).transaction() as s:
        assert service.active_definition(s).rule("unsubscribe").points == -40
    export = admin.get("/admin/scoring/export.yaml")
    assert yaml.safe_load(export.get_data(as_text=True)) == yaml.safe_load(MODEL)


def test_only_admins_open_the_model_editor(sign_in, client):
    assert sign_in("operator").get("/admin/scoring").status_code == 403
    assert sign_in("sales").get("/admin/scoring").status_code == 403
    assert client.get("/admin/scoring").status_code == 302


def test_model_form_is_refused_without_a_csrf_token(make_app, sign_in):
    app = make_app(config={"WTF_CSRF_ENABLED": True})
    from people.service import create_user
    from tests.fixtures.app import TEST_PASSWORD

    with get_db(app).transaction() as s:
        create_user(s, "csrf-admin@example.jp", "admin", TEST_PASSWORD)
    client = app.test_client()
    login_page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', login_page).group(1)
    assert client.post("/login", data={"email": "csrf-admin@example.jp", "password": TEST_PASSWORD,
                                       "csrf_token": token}).status_code == 302
    assert client.post("/admin/scoring", data={"model": MODEL}).status_code == 400
    with get_db(app).transaction() as s:
        assert service.active_definition(s).rule("unsubscribe").points == -20  # the default still


def test_person_page_shows_score_history_with_reasons(sign_in, app):
    with get_db(app).transaction() as s:
        add_activity(s, "form_submit", lead_id(1))
    with get_db(app).transaction() as s:
        service.score_new_activity(s)
    body = sign_in("sales").get(f"/admin/scoring/people/{lead_id(1)}").get_data(as_text=True)
    assert "フォーム送信 +50" in body


@pytest.mark.db_independent
def test_every_problem_of_a_model_is_reported_at_once_with_where_it_is():
    with pytest.raises(DocumentError) as caught:
        parse_yaml("behaviour: [{name: a, kind: nope, points: ten}]\ndecay: [{older_than_days: 0, keep_percent: 50}]")
    assert [p.path for p in caught.value.problems] == ["behaviour[0].kind", "behaviour[0].points", "decay[0]"]
    assert "unknown kind 'nope'" in caught.value.messages[0]
