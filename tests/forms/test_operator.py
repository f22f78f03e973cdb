"""Operator forms over HTTP: lookup, prefill, inline errors, confirm, one submission per token."""

from __future__ import annotations

import re

from sqlalchemy import func, select

import db as dbmod
from activity.models import Activity
from forms.models import Submission
from writeback.models import WritebackItem


def _token(html: str) -> str:
    return re.search(r'name="_token" value="([0-9a-f]{32})"', html).group(1)


TYPED = {
    "LastName": "山田", "FirstName": "花子", "LastNameKana__c": "やまだ", "FirstNameKana__c": "ﾊﾅｺ",
    "Phone": "０９０−１１１１−２２２２", "Email": "Hanako@Example.JP", "PostalCode": "１０００００１",
    "State": "東京都", "City": "千代田区", "Street": "千代田１−１",
}


def _items(app):
    with dbmod.get_db(app).transaction() as session:
        return [(i.object_name, i.operation, i.fields, i.record_id, i.depends_on_id)
                for i in session.scalars(select(WritebackItem).order_by(WritebackItem.id))]


def test_lookup_finds_a_member_by_partial_phone_kana_name_and_email(examples, sign_in, seed_mirror):
    member = seed_mirror("Lead", LastName="山田", FirstName="花子", LastNameKana__c="ヤマダ",
                         FirstNameKana__c="ハナコ", Phone="090-1111-2222", Email="hanako@example.jp")
    seed_mirror("Lead", LastName="佐藤", FirstName="一郎", LastNameKana__c="サトウ", Phone="03-1234-5678")
    client = sign_in("operator")
    for typed in ("０９０１１１", "090-1111", "やまだ", "ﾔﾏﾀﾞ ﾊﾅ", "山田花", "hanako@exa"):
        ids = [r["id"] for r in client.get("/forms/api/people", query_string={"q": typed}).json["results"]]
        assert ids == [member["Id"]], typed


def test_lookup_ignores_deleted_records_and_short_input(examples, sign_in, seed_mirror):
    seed_mirror("Lead", LastName="山田", LastNameKana__c="ヤマダ", IsDeleted=True)
    client = sign_in("operator")
    assert client.get("/forms/api/people?q=ヤマダ").json["results"] == []
    assert client.get("/forms/api/people?q=0").json["results"] == []


def test_lookup_needs_a_signed_in_operator(examples, client):
    response = client.get("/forms/api/people?q=yamada")
    assert response.status_code in (302, 401)


def test_choosing_a_member_prefills_the_form(examples, sign_in, seed_mirror):
    member = seed_mirror("Lead", LastName="山田", FirstName="花子", Phone="090-1111-2222", City="千代田区")
    page = sign_in("operator").get(f"/forms/trial_set?person={member['Id']}").get_data(as_text=True)
    assert 'value="山田"' in page and 'value="090-1111-2222"' in page and 'value="千代田区"' in page
    assert f'name="_person" value="{member["Id"]}"' in page


def test_bad_input_is_shown_inline_in_japanese_and_typed_values_are_kept(examples, sign_in):
    client = sign_in("operator")
    token = _token(client.get("/forms/trial_set").get_data(as_text=True))
    response = client.post("/forms/trial_set", data={**TYPED, "_token": token, "Phone": "12345",
                                                     "Email": "hanako@", "LastName": ""})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'id="f-Phone-error"' in page and "電話番号が正しくありません" in page
    assert "メールアドレスの形式が正しくありません" in page
    assert 'id="f-LastName-error"' in page and "入力してください" in page
    assert 'value="hanako@"' in page and 'value="12345"' in page and 'value="千代田１−１"' in page


def test_confirmation_shows_normalized_values_and_nothing_is_stored_yet(examples, sign_in, app):
    client = sign_in("operator")
    token = _token(client.get("/forms/trial_set").get_data(as_text=True))
    page = client.post("/forms/trial_set", data={**TYPED, "_token": token, "_stage": "confirm"}).get_data(as_text=True)
    for shown in ("090-1111-2222", "Hanako@example.jp", "ヤマダ", "ハナコ", "100-0001", "千代田1-1"):
        assert shown in page
    assert 'value="submit"' in page and "autofocus" in page
    with dbmod.get_db(app).transaction() as session:
        assert session.scalar(select(func.count()).select_from(Submission)) == 0


def test_submitting_twice_with_one_token_makes_one_submission_and_one_lead(examples, sign_in, app):
    client = sign_in("operator")
    token = _token(client.get("/forms/trial_set").get_data(as_text=True))
    data = {**TYPED, "_token": token, "_stage": "submit"}
    first = client.post("/forms/trial_set", data=data)
    second = client.post("/forms/trial_set", data=data)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    items = _items(app)
    assert [(o, op) for o, op, *_ in items] == [("Lead", "upsert"), ("Task", "create")]
    lead_fields = items[0][2]
    assert lead_fields["Phone"] == "090-1111-2222" and lead_fields["Email"] == "Hanako@example.jp"
    assert lead_fields["LastNameKana__c"] == "ヤマダ" and lead_fields["FirstNameKana__c"] == "ハナコ"
    assert lead_fields["LeadSource"] == "Phone Inquiry" and lead_fields["Tsunagi_Key__c"] == f"f-{token}"
    task = items[1]
    assert task[2]["WhoId"] == {"$ref": 1} or task[4] is not None
    with dbmod.get_db(app).transaction() as session:
        assert session.scalar(select(func.count()).select_from(Submission)) == 1
        activity = session.scalar(select(Activity))
        assert activity.kind == "form_submit" and activity.details["form"] == "trial_set"
        assert activity.details["automations"] == ["trial_set_followup"]
    done = client.get(first.headers["Location"]).get_data(as_text=True)
    assert "受け付けました" in done and "Alt+N" in done


def test_a_chosen_member_is_updated_without_touching_create_only_fields(examples, sign_in, seed_mirror, app):
    member = seed_mirror("Lead", LastName="山田", FirstName="花子", Phone="090-1111-2222")
    client = sign_in("operator")
    token = _token(client.get(f"/forms/trial_set?person={member['Id']}").get_data(as_text=True))
    client.post("/forms/trial_set", data={**TYPED, "_token": token, "_person": member["Id"], "_stage": "submit"})
    (obj, op, fields, record_id, _), (task_obj, _, task_fields, _, _) = _items(app)
    assert (obj, op, record_id) == ("Lead", "update", member["Id"])
    assert "LeadSource" not in fields and "Company" not in fields and "Tsunagi_Key__c" not in fields
    assert task_obj == "Task" and task_fields["WhoId"] == member["Id"]


def test_a_new_entry_matching_a_member_by_phone_updates_that_member(examples, sign_in, seed_mirror, app):
    member = seed_mirror("Lead", LastName="山田", Phone="090-1111-2222", Email="other@example.jp")
    client = sign_in("operator")
    token = _token(client.get("/forms/trial_set").get_data(as_text=True))
    client.post("/forms/trial_set", data={**TYPED, "Email": "", "_token": token, "_stage": "submit"})
    obj, op, _fields, record_id, _ = _items(app)[0]
    assert (obj, op, record_id) == ("Lead", "update", member["Id"])


def test_forms_are_refused_without_a_csrf_token(make_app, sign_in):
    from tests.forms.conftest import load_examples

    app = make_app(config={"WTF_CSRF_ENABLED": True})
    load_examples(app)
    client = app.test_client()
    from people.service import create_user
    with dbmod.get_db(app).transaction() as session:
        create_user(session, "op@example.jp", "operator", "correct horse battery")
    login_page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', login_page).group(1)
    client.post("/login", data={"email": "op@example.jp", "password": "correct horse battery", "csrf_token": csrf})
    token = _token(client.get("/forms/trial_set").get_data(as_text=True))
    response = client.post("/forms/trial_set", data={**TYPED, "_token": token, "_stage": "submit"})
    assert response.status_code == 400
    with dbmod.get_db(app).transaction() as session:
        assert session.scalar(select(func.count()).select_from(Submission)) == 0


def test_sales_people_cannot_open_operator_forms(examples, sign_in):
    assert sign_in("sales").get("/forms/trial_set").status_code == 404


def test_postal_code_gives_the_address_from_bundled_data(examples, client):
    assert client.get("/forms/api/postal/１００−０００１").json == {
        "prefecture": "東京都", "city": "千代田区", "street": "千代田"}
    assert client.get("/forms/api/postal/0000000").status_code == 404


def test_two_members_sharing_a_phone_are_not_guessed_between(examples, sign_in, seed_mirror, app):
    seed_mirror("Lead", LastName="山田", FirstName="太郎", Phone="090-1111-2222")
    seed_mirror("Lead", LastName="山田", FirstName="花子", Phone="090-1111-2222")
    client = sign_in("operator")
    token = _token(client.get("/forms/trial_set").get_data(as_text=True))
    client.post("/forms/trial_set", data={**TYPED, "Email": "", "_token": token, "_stage": "submit"})
    obj, op, _fields, record_id, _ = _items(app)[0]
    assert (obj, op, record_id) == ("Lead", "upsert", None)


def test_an_email_match_wins_over_a_phone_match(examples, sign_in, seed_mirror, app):
    by_email = seed_mirror("Lead", LastName="山田", Email="hanako@example.jp")
    seed_mirror("Lead", LastName="別人", Phone="090-1111-2222")
    client = sign_in("operator")
    token = _token(client.get("/forms/trial_set").get_data(as_text=True))
    client.post("/forms/trial_set", data={**TYPED, "Email": "hanako@example.jp", "_token": token,
                                          "_stage": "submit"})
    assert _items(app)[0][3] == by_email["Id"]
