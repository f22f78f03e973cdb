"""Definitions checked on save, as an admin edits an automation: objects, fields and picklist values
against the org's describe, templates/forms/segments by key, each error at its line; a definition
that would do nothing says so; the editor is monospace with line numbers and a real docs link."""

from __future__ import annotations

import re

import db as dbmod
from tests.automations.helpers import template, upsert


def _org_described(app):
    """What the describe cache keeps from Salesforce's describe of Task, Lead and Contact."""
    from salesforce.describe import store

    visit_result = {"name": "Visit_Result__c", "type": "picklist", "label": "訪問結果",
                    "picklistValues": [{"value": v, "active": True} for v in ("在宅", "不在", "訪問不要")]}
    with dbmod.get_db(app).transaction() as session:
        for name, fields in {"Task": {"Id": "id", "Subject": "string", "WhoId": "reference",
                                      "Visit_Result__c": "picklist", "OwnerId": "reference"},
                             "Lead": {"Id": "id", "Email": "email", "LastName": "string", "State": "string"},
                             "Contact": {"Id": "id", "Email": "email", "LastName": "string"}}.items():
            store(session, name, {"fields": [visit_result if field == "Visit_Result__c" else
                                             {"name": field, "type": kind} for field, kind in fields.items()]})


BROKEN = """key: absent
name: 不在フォロー
trigger: {type: field_changed, object: Task, field: Visit_Resultt__c, to: 不在}
conditions:
  - {field: person.Emial, op: is_set}
exit:
  form_submitted: revisit_bookng
steps:
  - name: ご案内
    actions:
      - {type: send_mail, template: absent-revisitt}
"""


def _errors(page: str) -> list[str]:
    items = re.findall(r"<li>(.*?)</li>", page.split('class="yaml-errors"')[1].split("</ul>")[0], re.S)
    return [re.sub(r"<[^>]+>", "", i).strip() for i in items]


def test_a_misspelled_field_template_and_form_are_refused_each_at_its_line(app, sign_in):
    _org_described(app)
    template(app, "absent-revisit")
    admin = sign_in("admin")
    response = admin.post("/admin/automations/new", data={"document": BROKEN})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "保存しました" not in page
    errors = _errors(page)
    assert any(e.startswith("3 行目: trigger.field") and "Visit_Resultt__c" in e for e in errors), errors
    assert any(e.startswith("5 行目: conditions[0].field") and "Emial" in e for e in errors), errors
    assert any(e.startswith("7 行目: exit.form_submitted") and "revisit_bookng" in e for e in errors), errors
    assert any(e.startswith("11 行目: steps[0].actions[0].template") and "absent-revisitt" in e
               for e in errors), errors
    assert '<li id="yaml-line-3" class="error-line">3</li>' in page
    assert admin.get("/admin/automations/absent").status_code == 404  # nothing was saved


def test_a_value_that_is_not_in_the_picklist_is_refused(app, sign_in):
    _org_described(app)
    template(app, "absent-revisit")
    document = BROKEN.replace("Visit_Resultt__c, to: 不在", "Visit_Result__c, to: 留守").replace(
        "person.Emial", "person.Email").replace("revisit_bookng", "").replace("absent-revisitt", "absent-revisit")
    response = sign_in("admin").post("/admin/automations/new", data={"document": document})
    errors = _errors(response.get_data(as_text=True))
    assert response.status_code == 400
    assert len(errors) == 1 and errors[0].startswith("3 行目: trigger.to") and "在宅, 不在, 訪問不要" in errors[0]


def test_a_correct_definition_is_saved_and_one_that_would_reach_nobody_says_so(app, sign_in):
    _org_described(app)
    template(app, "news")
    upsert(app, "Lead", LastName="佐藤", Email="sato@example.jp", State="大阪府", HasOptedOutOfEmail=False)
    admin = sign_in("admin")
    saved = admin.post("/admin/automations/new", follow_redirects=True, data={"document": """key: tokyo-new
name: 東京の新規リード
trigger: {type: record_created, object: Lead}
conditions:
  - {field: State, op: eq, value: 東京都}
steps:
  - {name: ようこそ, actions: [{type: send_mail, template: news}]}
"""}).get_data(as_text=True)
    assert "作成しました" in saved
    assert "今の時点で条件に合うレコードは 0 件です。このままでは何も起きません。" in saved


def test_the_editor_is_monospace_with_line_numbers_and_links_to_the_docs(app, sign_in):
    admin = sign_in("admin")
    page = admin.get("/admin/automations/new").get_data(as_text=True)
    assert 'class="code"' in page and '<ol class="line-numbers"' in page and "code-editor.js" in page
    link = re.search(r'<a href="([^"]+)"[^>]*>書き方（docs/automations.md）</a>', page)
    assert link is not None
    docs = admin.get(link.group(1))
    assert docs.status_code == 200 and "Action keys" in docs.get_data(as_text=True)
    assert admin.get("/static/web/code-editor.js").status_code == 200
    assert sign_in("operator").get(link.group(1)).status_code == 403
