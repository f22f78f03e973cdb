"""Public forms (no sign-in, honeypot, rate limit, signed links) and the field-sales visit screen."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

import db as dbmod
from forms.links import signed_form_url
from forms.service import local_today
from tests.forms.helpers import submissions, token_of
from writeback.models import WritebackItem

REQUEST = {"LastName": "田中", "FirstName": "美咲", "LastNameKana__c": "たなか", "FirstNameKana__c": "みさき",
           "Email": "misaki@example.jp", "PostalCode": "100-0001", "State": "東京都", "City": "千代田区",
           "Street": "千代田1-1", "_privacy": "1"}  # the visitor ticks the privacy-policy box


def _post(client, key, data, stage="submit", **extra):
    token = token_of(client.get(f"/f/{key}").get_data(as_text=True))
    return client.post(f"/f/{key}", data={**data, "_token": token, "_stage": stage, **extra})


def _written(app):
    with dbmod.get_db(app).transaction() as session:
        return [(i.object_name, i.operation, i.fields, i.record_id)
                for i in session.scalars(select(WritebackItem).order_by(WritebackItem.id))]


def test_a_public_form_needs_no_sign_in_and_accepts_a_request(examples, client, app):
    assert client.get("/f/materials_request").status_code == 200
    response = _post(client, "materials_request", REQUEST)
    assert response.status_code == 303 and response.headers["Location"].endswith("/f/materials_request/thanks")
    assert "資料請求を受け付けました" in client.get(response.headers["Location"]).get_data(as_text=True)
    ((obj, op, fields, _),) = _written(app)
    assert (obj, op, fields["LeadSource"], fields["LastNameKana__c"]) == ("Lead", "upsert", "Web", "タナカ")
    assert "HasQuestion" not in fields  # a form-only field is never sent to Salesforce


def test_ticking_the_mail_opt_in_keeps_a_consent_record_and_leaving_it_keeps_none(examples, client, app):
    from mail.models import MailConsent

    _post(client, "materials_request", {**REQUEST, "MailOptIn": "1"})
    _post(client, "materials_request", {**REQUEST, "Email": "other@example.jp"})  # not ticked
    with dbmod.get_db(app).transaction() as session:
        consents = session.scalars(select(MailConsent)).all()
        assert [(c.address, c.granted, c.source) for c in consents] == [
            ("misaki@example.jp", True, "form:materials_request")]
        assert consents[0].details["consent_text"] == "新商品やキャンペーンのお知らせメールを受け取る"
    assert all("MailOptIn" not in fields for _obj, _op, fields, _ in _written(app))


def test_a_bad_email_on_a_public_form_is_shown_inline_and_the_rest_is_kept(examples, client, app):
    response = _post(client, "materials_request", {**REQUEST, "Email": "misaki@@example"}, stage="confirm")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'id="f-Email-error"' in page and "メールアドレスの形式が正しくありません" in page
    assert 'value="misaki@@example"' in page and 'value="田中"' in page
    assert submissions(app) == []


def test_a_filled_honeypot_looks_accepted_but_stores_nothing(examples, client, app):
    response = _post(client, "materials_request", REQUEST, website="http://spam.example")
    assert response.status_code == 303
    assert submissions(app) == [] and _written(app) == []


def test_public_submissions_are_rate_limited_per_client(make_app):
    from tests.forms.conftest import load_examples

    app = make_app(forms_public_rate_limit=2)
    load_examples(app)
    client = app.test_client()
    assert [_post(client, "materials_request", REQUEST).status_code for _ in range(3)] == [303, 303, 429]
    assert len(submissions(app)) == 2


def test_behind_a_trusted_proxy_each_customer_has_their_own_rate_limit(make_app):
    from tests.forms.conftest import load_examples

    app = make_app(forms_public_rate_limit=2, trusted_proxies=1)
    load_examples(app)
    client = app.test_client()

    def post_from(address):
        token = token_of(client.get("/f/materials_request").get_data(as_text=True))
        return client.post("/f/materials_request", headers={"X-Forwarded-For": address},
                           environ_overrides={"REMOTE_ADDR": "10.0.0.2"},  # the proxy
                           data={**REQUEST, "_token": token, "_stage": "submit"}).status_code

    assert [post_from("203.0.113.7") for _ in range(3)] == [303, 303, 429]
    assert post_from("198.51.100.23") == 303  # another customer, same proxy
    assert len(submissions(app)) == 3


def test_public_forms_are_refused_without_a_csrf_token(make_app):
    from tests.forms.conftest import load_examples

    app = make_app(config={"WTF_CSRF_ENABLED": True})
    load_examples(app)
    client = app.test_client()
    assert _post(client, "materials_request", REQUEST).status_code == 400
    assert submissions(app) == []


def test_a_signed_mail_link_prefills_and_links_the_booking_to_the_person(examples, client, app, seed_mirror):
    member = seed_mirror("Contact", LastName="高橋", FirstName="健", Email="ken@example.jp")
    with app.test_request_context():
        url = signed_form_url("revisit_booking", member["Id"], max_age_days=7)
    assert url.startswith("http://localhost/f/revisit_booking?t=")
    path = url.removeprefix("http://localhost")
    page = client.get(path).get_data(as_text=True)
    token = token_of(page)
    link = path.split("t=", 1)[1]
    with app.app_context():
        day = (date.fromisoformat(local_today()) + timedelta(days=7)).isoformat()  # bookings are for days ahead
    response = client.post("/f/revisit_booking", data={"ActivityDate": day, "Description": "午前",
                                                       "t": link, "_token": token, "_stage": "submit"})
    assert response.status_code == 303
    ((obj, op, fields, _),) = _written(app)
    assert (obj, op) == ("Task", "create")
    assert fields["WhoId"] == member["Id"] and fields["ActivityDate"] == day


def test_raw_record_ids_and_forged_or_foreign_links_never_prefill(examples, client, app, seed_mirror):
    member = seed_mirror("Lead", LastName="高橋", Email="ken@example.jp")
    assert "高橋" not in client.get(f"/f/materials_request?person={member['Id']}").get_data(as_text=True)
    with app.test_request_context():
        other_form = signed_form_url("revisit_booking", member["Id"]).split("t=", 1)[1]
    for link in ("garbage", other_form):
        page = client.get(f"/f/materials_request?t={link}").get_data(as_text=True)
        assert "高橋" not in page and "リンクが正しくありません" in page


def test_an_expired_link_says_so_and_does_not_prefill(examples, client, app, seed_mirror, monkeypatch):
    member = seed_mirror("Lead", LastName="高橋", Email="ken@example.jp")
    with app.test_request_context():
        url = signed_form_url("materials_request", member["Id"], max_age_days=1)
    later = dbmod.utcnow() + timedelta(days=2)
    monkeypatch.setattr("db.utcnow", lambda: later)  # two days pass
    page = client.get(url.removeprefix("http://localhost")).get_data(as_text=True)
    assert "高橋" not in page and "有効期限が切れています" in page


@pytest.fixture
def sales(examples, sign_in):
    return sign_in("sales")


def test_a_field_rep_records_a_visit_in_two_taps_as_a_task_with_visit_result(sales, app, seed_mirror):
    member = seed_mirror("Contact", LastName="伊藤", FirstName="誠", LastNameKana__c="イトウ",
                         Phone="03-1234-5678", MailingCity="横浜市")
    results = sales.get("/forms/api/people?q=いとう").json["results"]
    assert [r["id"] for r in results] == [member["Id"]]
    page = sales.get(f"/forms/visit/{member['Id']}").get_data(as_text=True)  # tap 1
    assert "在宅" in page and "不在" in page and "訪問不要" in page
    token = token_of(page)
    response = sales.post(f"/forms/visit/{member['Id']}", data={"_token": token, "Visit_Result__c": "不在"})  # tap 2
    assert response.status_code == 303
    again = sales.post(f"/forms/visit/{member['Id']}", data={"_token": token, "Visit_Result__c": "不在"})
    assert again.headers["Location"] == response.headers["Location"].replace("outcome=new", "outcome=same")
    assert "すでに記録済み" in sales.get(again.headers["Location"]).get_data(as_text=True)
    ((obj, op, fields, _),) = _written(app)
    assert (obj, op) == ("Task", "create")
    assert fields["Visit_Result__c"] == "不在" and fields["WhoId"] == member["Id"]
    assert fields["Subject"] == "訪問結果" and fields["Status"] == "Completed" and fields["ActivityDate"]
    assert "不在" in sales.get(response.headers["Location"]).get_data(as_text=True)


def test_a_visit_result_outside_the_picklist_is_refused(sales, app, seed_mirror):
    member = seed_mirror("Contact", LastName="伊藤")
    token = token_of(sales.get(f"/forms/visit/{member['Id']}").get_data(as_text=True))
    sales.post(f"/forms/visit/{member['Id']}", data={"_token": token, "Visit_Result__c": "留守"})
    assert _written(app) == [] and submissions(app) == []


def test_operators_cannot_use_the_visit_screen(examples, sign_in):
    assert sign_in("operator").get("/forms/visit").status_code == 403


def test_a_field_rep_cannot_read_another_rep_s_visit_by_its_number(sales, sign_in, app, seed_mirror):
    member = seed_mirror("Contact", LastName="伊藤", FirstName="誠")
    token = token_of(sales.get(f"/forms/visit/{member['Id']}").get_data(as_text=True))
    recorded = sales.post(f"/forms/visit/{member['Id']}", data={"_token": token, "Visit_Result__c": "訪問不要"})
    (sub,) = submissions(app)
    assert f"recorded={sub.id}&" in recorded.headers["Location"]
    other_rep = sign_in("sales")
    response = other_rep.get(f"/forms/visit?recorded={sub.id}")
    assert response.status_code == 404 and "訪問不要" not in response.get_data(as_text=True)
    operator = sign_in("operator")
    assert operator.get(f"/forms/visit_result/done/{sub.id}").status_code in (403, 404)
    assert "訪問不要" in sales.get(f"/forms/visit?recorded={sub.id}").get_data(as_text=True)


def test_an_operator_cannot_read_another_operator_s_entry_by_its_number(examples, sign_in, app, seed_mirror):
    first = sign_in("operator")
    page = first.get("/forms/trial_set").get_data(as_text=True)
    response = first.post("/forms/trial_set", data={
        "_token": token_of(page), "_stage": "submit", "LastName": "山本", "FirstName": "一郎",
        "LastNameKana__c": "やまもと", "FirstNameKana__c": "いちろう", "Phone": "090-1111-2222",
        "Email": "ichiro@example.jp", "PostalCode": "100-0001", "State": "東京都", "City": "千代田区",
        "Street": "千代田1-1"})
    assert response.status_code == 303, response.get_data(as_text=True)
    done = response.headers["Location"]
    assert first.get(done).status_code == 200
    assert sign_in("operator").get(done).status_code == 404
