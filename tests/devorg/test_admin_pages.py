"""The admin pages: play the person in Salesforce (the field rep marking a visit 不在), inject faults."""

from __future__ import annotations

import re

import pytest
from simple_salesforce.exceptions import SalesforceGeneralError


@pytest.fixture
def admin_client(make_app, sign_in, devorg):
    app = make_app(**devorg.app_settings())
    return sign_in("admin", app.test_client())


@pytest.fixture
def sign_in(make_app):
    """`sign_in(role, client)` on the client's own app (the shared fixture signs in on `app`)."""
    from db import get_db
    from people.service import create_user
    from tests.fixtures.app import TEST_PASSWORD

    counter = {"n": 0}

    def factory(role, client):
        counter["n"] += 1
        email = f"{role}{counter['n']}@example.jp"
        with get_db(client.application).transaction() as session:
            create_user(session, email, role, TEST_PASSWORD)
        response = client.post("/login", data={"email": email, "password": TEST_PASSWORD})
        assert response.status_code == 302
        return client

    return factory


def test_field_rep_marks_visit_absent_as_a_person_in_salesforce(admin_client, devorg):
    contact = devorg.insert("Contact", LastName="山田", FirstName="花子")
    task = devorg.insert("Task", Subject="訪問", WhoId=contact, Visit_Result__c="在宅")
    before = devorg.get("Task", task)
    page = admin_client.get(f"/devorg/o/Task/{task}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "訪問結果" in html and 'value="不在"' in html
    saved = admin_client.post(f"/devorg/o/Task/{task}", data={
        "Subject": "訪問", "WhoId": contact, "Status": "Not Started", "Priority": "Normal",
        "Visit_Result__c": "不在"})
    assert saved.status_code == 302
    after = devorg.get("Task", task)
    assert after["Visit_Result__c"] == "不在"
    assert after["LastModifiedById"] == devorg.person_user_id
    assert after["SystemModstamp"] >= before["SystemModstamp"]
    assert devorg.api_calls == 0
    assert "保存しました" in admin_client.get(f"/devorg/o/Task/{task}").get_data(as_text=True)


def test_listing_searches_by_kana(admin_client, devorg):
    devorg.insert("Contact", LastName="山田", LastNameKana__c="ヤマダ")
    devorg.insert("Contact", LastName="佐藤", LastNameKana__c="サトウ")
    html = admin_client.get("/devorg/o/Contact?search=ヤマ").get_data(as_text=True)
    assert "山田" in html and "佐藤" not in html


def test_invalid_value_shows_salesforce_error_and_keeps_the_record(admin_client, devorg):
    contact = devorg.insert("Contact", LastName="山田", Email="yamada@example.jp")
    response = admin_client.post(f"/devorg/o/Contact/{contact}", data={"LastName": "山田", "Email": "yamada@"})
    assert response.status_code == 400
    assert "INVALID_EMAIL_ADDRESS" in response.get_data(as_text=True)
    assert devorg.get("Contact", contact)["Email"] == "yamada@example.jp"


def test_creating_and_deleting_from_the_page(admin_client, devorg):
    created = admin_client.post("/devorg/o/Lead/new", data={"LastName": "新規", "Company": "個人"})
    assert created.status_code == 302
    (lead,) = devorg.records("Lead")
    assert lead["Status"] == "Open - Not Contacted" and lead["HasOptedOutOfEmail"] is False
    assert admin_client.post(f"/devorg/o/Lead/{lead['Id']}/delete").status_code == 302
    assert devorg.records("Lead") == []
    assert admin_client.post(f"/devorg/o/Lead/{lead['Id']}/undelete").status_code == 302
    assert len(devorg.records("Lead")) == 1


def test_fault_injected_from_the_page_reaches_the_api(admin_client, devorg):
    response = admin_client.post("/devorg/faults", data={"path_regex": "/query", "kind": "503", "count": "1"})
    assert response.status_code == 302
    assert "/query" in admin_client.get("/devorg/").get_data(as_text=True)
    sf = devorg.salesforce()
    with pytest.raises(SalesforceGeneralError):
        sf.query("SELECT Id FROM Lead")
    assert sf.query("SELECT Id FROM Lead")["totalSize"] == 0


def test_pages_are_for_admins_only(make_app, sign_in, devorg):
    app = make_app(**devorg.app_settings())
    assert app.test_client().get("/devorg/").status_code == 302
    operator = sign_in("operator", app.test_client())
    assert operator.get("/devorg/").status_code == 403
    assert operator.post("/devorg/faults", data={"kind": "503"}).status_code == 403


def test_forms_without_csrf_token_are_refused(make_app, sign_in, devorg):
    app = make_app(config={"WTF_CSRF_ENABLED": True}, **devorg.app_settings())
    client = app.test_client()
    login_page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', login_page).group(1)
    from db import get_db
    from people.service import create_user
    from tests.fixtures.app import TEST_PASSWORD

    with get_db(app).transaction() as session:
        create_user(session, "csrf-admin@example.jp", "admin", TEST_PASSWORD)
    client.post("/login", data={"email": "csrf-admin@example.jp", "password": TEST_PASSWORD, "csrf_token": token})
    contact = devorg.insert("Contact", LastName="山田")
    refused = client.post(f"/devorg/o/Contact/{contact}", data={"LastName": "書き換え"})
    assert refused.status_code == 400
    assert devorg.get("Contact", contact)["LastName"] == "山田"
    accepted = client.post(f"/devorg/o/Contact/{contact}", data={"LastName": "書き換え", "csrf_token": token})
    assert accepted.status_code == 302
    assert devorg.get("Contact", contact)["LastName"] == "書き換え"


def test_page_says_so_when_the_org_is_not_running(make_app, sign_in, tmp_path):
    app = make_app(devorg_dir=str(tmp_path / "no-org"))
    client = sign_in("admin", app.test_client())
    response = client.get("/devorg/")
    assert response.status_code == 503
    assert "devorg serve" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/devorg/o/%2E%2E/faults", "/devorg/o/%2e%2e/outbound",
                                  "/devorg/o/Task/%2E%2E", "/devorg/o/Lead/..%2Ffaults"])
def test_a_dot_dot_in_an_admin_page_url_is_not_found(admin_client, devorg, path):
    assert admin_client.get(path).status_code in (404, 405)  # %2F decodes to a POST-only route


def test_a_dot_dot_in_a_delete_url_does_not_clear_the_org_s_faults(admin_client, devorg):
    """`DELETE records/../faults` would be `DELETE /devorg/api/faults` once the path is normalized."""
    devorg.inject_fault("/query", "503", count=5)
    admin_client.post("/devorg/o/%2E%2E/faults/delete")
    assert "/query" in admin_client.get("/devorg/").get_data(as_text=True)


def test_the_admin_client_refuses_a_path_that_is_not_plain_segments(devorg):
    from devorg.admin import OrgAdmin, OrgRefused

    admin = OrgAdmin({"instance_url": "https://127.0.0.1:1", "admin_key": "x"})
    for path in ("records/../faults", "records/%2E%2E/faults", "records//x", "records/Lead?x=1"):
        with pytest.raises(OrgRefused):
            admin.call("GET", path)
