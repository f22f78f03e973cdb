"""The admin error queue: a Salesforce validation error is shown, fixed and resent, or discarded."""

from __future__ import annotations

import json

from sqlalchemy import select

import db
from people.models import AuditEntry

from .conftest import add, drain, items


def _failed_contact(app, devorg):
    item_id = add(app, key="form:42", object_name="Contact", operation="create",
                  fields={"FirstName": "花子", "Email": "hanako@example.jp"}, origin="forms", origin_ref="42")
    drain(app)
    return item_id


def test_a_validation_error_lands_in_the_error_queue_with_salesforces_message(wb_app, devorg, sign_in):
    item_id = _failed_contact(wb_app, devorg)

    [item] = items(wb_app)
    assert (item.status, item.error_code) == ("failed", "REQUIRED_FIELD_MISSING")
    page = sign_in("admin").get("/admin/writeback").get_data(as_text=True)
    assert f'href="/admin/writeback/{item_id}"' in page
    assert "REQUIRED_FIELD_MISSING" in page and "LastName" in page
    assert devorg.records("Contact") == []


def test_an_admin_fixes_the_fields_and_resends_and_the_record_arrives_once(wb_app, devorg, sign_in):
    item_id = _failed_contact(wb_app, devorg)
    admin = sign_in("admin")
    form = admin.get(f"/admin/writeback/{item_id}").get_data(as_text=True)
    assert "hanako@example.jp" in form

    fixed = {"FirstName": "花子", "LastName": "山田", "Email": "hanako@example.jp"}
    response = admin.post(f"/admin/writeback/{item_id}", data={"fields": json.dumps(fixed, ensure_ascii=False)})
    assert response.status_code == 302
    drain(wb_app)

    [record] = devorg.records("Contact")
    assert record["LastName"] == "山田"
    assert items(wb_app)[0].status == "written"
    with db.get_db(wb_app).transaction() as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "writeback.resend"))
        assert entry.target == f"writeback_item:{item_id}"
        assert entry.before["error_code"] == "REQUIRED_FIELD_MISSING"
        assert entry.after["fields"]["LastName"] == "山田"


def test_fields_that_are_not_a_json_object_are_refused_with_a_message_and_kept(wb_app, devorg, sign_in):
    item_id = _failed_contact(wb_app, devorg)
    admin = sign_in("admin")

    response = admin.post(f"/admin/writeback/{item_id}", data={"fields": '{"LastName": 山田'})

    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "JSONとして読めません" in body
    assert "{&#34;LastName&#34;: 山田" in body  # what was typed stays in the box
    assert items(wb_app)[0].status == "failed"


def test_a_field_name_that_salesforce_cannot_have_is_refused(wb_app, devorg, sign_in):
    item_id = _failed_contact(wb_app, devorg)

    response = sign_in("admin").post(f"/admin/writeback/{item_id}",
                                     data={"fields": json.dumps({"LastName; DROP": "x"})})

    assert response.status_code == 400
    assert "Salesforceの項目名ではありません" in response.get_data(as_text=True)


def test_discarding_a_failed_item_is_audited_and_fails_items_waiting_for_it(wb_app, devorg, sign_in):
    item_id = _failed_contact(wb_app, devorg)
    with db.get_db(wb_app).transaction() as session:
        from writeback.models import WritebackItem
        from writeback.queue import enqueue

        parent = session.get(WritebackItem, item_id)
        enqueue(session, key="form:42:task", object_name="Task", operation="create",
                fields={"Subject": "電話受付", "WhoId": {"$ref": item_id}}, depends_on=parent)

    response = sign_in("admin").post(f"/admin/writeback/{item_id}/discard")

    assert response.status_code == 302
    assert [i.status for i in items(wb_app)] == ["discarded", "failed"]
    assert items(wb_app)[1].error_code == "PARENT_DISCARDED"
    with db.get_db(wb_app).transaction() as session:
        assert session.scalar(select(AuditEntry.action).where(AuditEntry.target == f"writeback_item:{item_id}")) == \
            "writeback.discard"


def test_the_error_queue_is_for_admins_only(client, sign_in):
    assert sign_in("operator").get("/admin/writeback").status_code == 403
    signed_out = client.get("/admin/writeback")
    assert signed_out.status_code == 302 and "/login" in signed_out.headers["Location"]


def test_resend_without_a_csrf_token_is_refused(make_app, sign_in):
    app = make_app(config={"WTF_CSRF_ENABLED": True})
    item_id = add(app, key="k", object_name="Contact", operation="update", record_id="003000000000001AAA",
                  fields={"LastName": "x"})
    from tests.fixtures.app import TEST_PASSWORD

    with db.get_db(app).transaction() as session:
        from people.service import create_user

        create_user(session, "csrf-admin@example.jp", "admin", TEST_PASSWORD)
    client = app.test_client()
    login_page = client.get("/login").get_data(as_text=True)
    token = login_page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    assert client.post("/login", data={"email": "csrf-admin@example.jp", "password": TEST_PASSWORD,
                                       "csrf_token": token}).status_code == 302

    assert client.post(f"/admin/writeback/{item_id}", data={"fields": "{}"}).status_code == 400
    assert client.post(f"/admin/writeback/{item_id}/discard").status_code == 400
    assert items(app)[0].status == "queued"


def test_admin_status_shows_the_write_back_queue_depth(app, sign_in):
    add(app, key="h1", object_name="Contact", operation="update", record_id="003000000000001AAA",
        fields={"LastName": "x"})

    check = sign_in("admin").get("/admin/status").get_json()["checks"]["writeback"]

    assert check["ok"] is True
    assert (check["pending"], check["failed"]) == (1, 0)


def test_the_error_queue_speaks_english_when_asked(sign_in):
    page = sign_in("admin").get("/admin/writeback?lang=en").get_data(as_text=True)
    assert "Write-back to Salesforce" in page
    assert "No write-back item has failed." in page


def test_a_long_error_queue_is_paged_newest_first(app, sign_in):
    import re

    from writeback.models import WritebackItem

    with db.get_db(app).transaction() as session:
        session.add_all(WritebackItem(idempotency_key=f"page:{n}", object_name="Contact", operation="update",
                                      record_id="003000000000001AAA", fields={"Score__c": n}, status="failed",
                                      error_code="FIELD_CUSTOM_VALIDATION_EXCEPTION", error_message=f"e{n}")
                        for n in range(450))
    admin = sign_in("admin")
    seen: list[int] = []
    url = "/admin/writeback"
    while url:
        page = admin.get(url).get_data(as_text=True)
        ids = [int(i) for i in re.findall(r'/admin/writeback/(\d+)"', page)]
        assert ids == sorted(ids, reverse=True) and len(ids) <= 200
        seen += ids
        found = re.search(r'rel="next" href="([^"]+)"', page)
        url = found.group(1).replace("&amp;", "&") if found else None
    assert len(seen) == 450 == len(set(seen))
    assert admin.get("/admin/writeback?before=1;drop").status_code == 400
