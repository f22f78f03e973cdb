"""Form definitions: YAML schema checks, import/export round trip, CLI, admin editor."""

from __future__ import annotations

import pytest
from sqlalchemy import select

import db as dbmod
from config.validation import DocumentError
from forms.models import FormDefinition
from forms.schema import dump_yaml, load_yaml
from tests.forms.conftest import EXAMPLES


@pytest.mark.db_independent
def test_every_shipped_example_is_a_valid_definition():
    keys = [s.key for p in sorted(EXAMPLES.glob("*.yaml")) for s in load_yaml(p.read_text(encoding="utf-8"))]
    assert sorted(keys) == ["materials_request", "revisit_booking", "trial_set", "visit_result"]


@pytest.mark.db_independent
def test_export_then_import_gives_the_same_definition():
    specs = load_yaml((EXAMPLES / "trial_set.yaml").read_text(encoding="utf-8"))
    again = load_yaml(dump_yaml(specs))
    assert [s.to_dict() for s in again] == [s.to_dict() for s in specs]
    assert "お試しセット申込" in dump_yaml(specs)  # Japanese stays readable, not \u escapes


@pytest.mark.db_independent
def test_a_bad_definition_lists_every_problem_with_its_path():
    text = """
key: Bad Key
title: ''
audience: everyone
object: Lead
mode: match_then_update_or_create
sections:
  - title: x
    fields:
      - {name: LastName, type: colour}
      - {name: Email, visible_if: {field: Nope, equals: x}}
actions:
  - {type: add_to_campaign}
  - {type: mail_consent, field: LastName}
"""
    with pytest.raises(DocumentError) as caught:
        load_yaml(text)
    problems = "\n".join(caught.value.messages)
    for expected in ("key:", "title: 必須です", "audience:", "match:", "sections[0].fields[0].type",
                     "Email.visible_if.field", "actions[0].campaign_id", "actions[1].field"):
        assert expected in problems, expected


@pytest.mark.db_independent
def test_yaml_that_does_not_parse_is_reported_not_raised():
    with pytest.raises(DocumentError) as caught:
        load_yaml("key: [unclosed")
    assert "YAML" in caught.value.messages[0]


def test_cli_load_creates_then_versions_and_export_prints_yaml(app, runner, tmp_path):
    path = tmp_path / "f.yaml"
    text = (EXAMPLES / "visit_result.yaml").read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    assert "visit_result: version 1" in runner.invoke(args=["forms", "load", str(path)]).output
    assert "unchanged" in runner.invoke(args=["forms", "load", str(path)]).output
    path.write_text(text.replace("title: 訪問結果", "title: 訪問の結果"), encoding="utf-8")
    assert "version 2" in runner.invoke(args=["forms", "load", str(path)]).output
    exported = runner.invoke(args=["forms", "export", "visit_result"]).output
    assert load_yaml(exported)[0].title == "訪問の結果"


def test_cli_load_examples_loads_every_shipped_form_once(app, runner):
    first = runner.invoke(args=["forms", "load-examples"])
    assert first.exit_code == 0, first.output
    shipped = sorted(path.stem for path in EXAMPLES.glob("*.yaml"))
    with dbmod.get_db(app).transaction() as session:
        assert sorted(d.key for d in session.scalars(select(FormDefinition))) == shipped
    again = runner.invoke(args=["forms", "load-examples"]).output
    assert again.count("unchanged") == len(shipped)


def test_every_template_and_automation_a_shipped_form_names_is_shipped_too(app, runner):
    from automations.queries import automation_by_key
    from mail.templates import get_template

    assert runner.invoke(args=["forms", "load-examples"]).exit_code == 0
    assert runner.invoke(args=["automations", "load-examples"]).exit_code == 0
    with dbmod.get_db(app).transaction() as session:
        for path in sorted(EXAMPLES.glob("*.yaml")):
            for spec in load_yaml(path.read_text(encoding="utf-8")):
                for action in spec.actions:
                    if action.type == "confirmation_mail":
                        assert get_template(session, action.template) is not None, (spec.key, action.template)
                    if action.type == "start_automation":
                        assert session.scalar(automation_by_key(action.automation)) is not None, spec.key


def test_cli_load_refuses_a_bad_file_and_stores_nothing(app, runner, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("key: x\n", encoding="utf-8")
    result = runner.invoke(args=["forms", "load", str(path)])
    assert result.exit_code != 0 and "必須です" in result.output
    with dbmod.get_db(app).transaction() as session:
        assert session.scalars(select(FormDefinition)).all() == []


def test_admin_imports_yaml_and_sees_problems_inline(app, sign_in):
    admin = sign_in("admin")
    bad = admin.post("/forms/admin/", data={"yaml": "key: x\ntitle: t\n"})
    assert bad.status_code == 400 and "sections" in bad.get_data(as_text=True)
    assert "key: x" in bad.get_data(as_text=True)  # what was typed is kept
    good = admin.post("/forms/admin/", data={"yaml": (EXAMPLES / "trial_set.yaml").read_text(encoding="utf-8")})
    assert good.status_code == 303
    page = admin.get("/forms/admin/trial_set").get_data(as_text=True)
    assert "LastNameKana__c" in page and "お試しセット申込" in page


def test_admin_edit_bumps_the_version_and_can_stop_a_form(examples, sign_in):
    admin = sign_in("admin")
    text = admin.get("/forms/admin/visit_result/edit").get_data(as_text=True)
    assert "Visit_Result__c" in text
    yaml_text = (EXAMPLES / "visit_result.yaml").read_text(encoding="utf-8").replace("訪問不要", "訪問不要（転居）")
    response = admin.post("/forms/admin/visit_result/edit", data={"yaml": yaml_text, "active": "0"})
    assert response.status_code == 303
    assert "v2" in admin.get("/forms/admin/visit_result").get_data(as_text=True)
    assert sign_in("sales").get("/forms/visit").status_code == 404


def test_admin_pages_are_for_admins_only(examples, sign_in):
    assert sign_in("operator").get("/forms/admin/").status_code == 403
