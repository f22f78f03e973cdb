"""The key paths of a person, run against every org definition of the suite (`people_org`):
the demo's Contacts and a Person Account org with other kana field names and a member-number key.

sync keys → look-up → mail to a person (logged on the person's contact, opt-out written back to the
person model's field, then honoured) → scoring.
"""

from __future__ import annotations

from sqlalchemy import select

import db
from sync import read
from sync.cycle import run_cycle
from sync.models import MirrorRecord
from writeback.models import WritebackItem
from writeback.worker import process_due


def synced_app(make_app, people_org, **settings):
    app = make_app(**people_org.settings(**settings))
    result = run_cycle(app)
    assert result.outcome == "ok", result.errors
    return app


def test_sync_gives_a_member_the_lookup_keys_of_the_orgs_fields_and_only_people_count(make_app, people_org):
    kind, member = people_org.member("山田", "花子", "ヤマダ", "ハナコ", "Hanako.Yamada@example.jp", "090-1234-5678",
                                     "M-0001")
    shop = people_org.devorg.insert("Account", Name="山田商店", Phone="03-6496-3255")  # a business, not a person
    app = synced_app(make_app, people_org)
    with app.app_context(), db.get_db(app).sessionmaker() as session:
        row = session.get(MirrorRecord, member)
        assert (row.object_name, row.kana_key, row.member_key, row.phone_key, row.email_key) == (
            kind, "ヤマダハナコ", "m-0001", "+819012345678", "hanako.yamada@example.jp")
        people = {sf_id for sf_id, _o, _f in session.execute(read.people())}
    assert member in people and shop not in people
    # A Person Account's hidden Contact is not a second person.
    assert people == {member}


def test_lookup_finds_a_member_by_kana_member_number_and_phone_end(make_app, people_org):
    from forms.lookup import search_people

    _kind, member = people_org.member("佐藤", "次郎", "サトウ", "ジロウ", "jiro@example.jp", "03-6496-3255", "K-77")
    people_org.devorg.insert("Account", Name="佐藤建設", Phone="03-6496-3255")
    app = synced_app(make_app, people_org)
    with app.app_context(), db.get_db(app).sessionmaker() as session:
        for typed in ("さとう", "K-77", "6496-3255", "jiro@"):
            found = search_people(session, typed)
            assert [r["id"] for r in found] == [member], typed
        [card] = search_people(session, "K-77")
    assert (card["name"], card["kana"], card["member_number"], card["email"]) == (
        "佐藤 次郎", "サトウ ジロウ", "K-77", "jiro@example.jp")


def test_a_mail_to_a_member_is_logged_on_their_contact_and_an_unsubscribe_reaches_their_opt_out_field(
        make_app, people_org, smtp_sink):
    from mail.compliance import opt_out_in_salesforce
    from mail.jobs import log_tasks
    from mail.outbox import enqueue_mail
    from mail.sender import sender_for
    from mail.templates import save_template
    from tests.mail.conftest import MAIL_SETTINGS

    kind, member = people_org.member("鈴木", "一郎", "スズキ", "イチロウ", "ichiro@example.jp", "090-2222-3333", "M-9")
    app = synced_app(make_app, people_org, smtp_url=smtp_sink.url, **MAIL_SETTINGS)
    with app.app_context():
        with db.transaction() as session:
            save_template(session, key="news", name="news", subject="{{ person.LastName }} 様へのお知らせ",
                          html="<p>{{ person.LastName }} 様（{{ person.Email }}）</p>")
            enqueue_mail(session, send_key="hello", to="ichiro@example.jp", template_key="news", person_id=member,
                         context={"consent_basis": "existing_relationship"})
        while sender_for(app).process("test-worker") > 0:
            pass
        # One template greets a Contact and a Person Account alike (person.Email is PersonEmail there).
        [mail] = smtp_sink.wait_for(1)
        assert mail.message["Subject"] == "鈴木 様へのお知らせ"
        assert "鈴木 様（ichiro@example.jp）" in mail.message.get_body(("html",)).get_content()
        log_tasks({})
        with db.transaction() as session:
            [task] = session.scalars(select(WritebackItem).where(WritebackItem.object_name == "Task")).all()
            # Salesforce names a Person Account in WhoId by its Contact (PersonContactId).
            assert task.fields["WhoId"] == people_org.contact_of(member)
            opt_out_in_salesforce(session, member, "unsubscribe-1")
        while process_due(app, "test-worker") > 0:
            pass
    opt_out = people_org.model.get(kind).opted_out
    assert people_org.devorg.get(kind, member)[opt_out] is True
    assert people_org.devorg.get("Contact", people_org.contact_of(member))["HasOptedOutOfEmail"] is True
    result = run_cycle(app)
    assert result.outcome == "ok", result.errors
    with app.app_context(), db.get_db(app).sessionmaker() as session:
        row = session.get(MirrorRecord, member)
        assert read.opted_out(row.object_name, row.fields)


def test_scoring_gives_every_person_a_row_of_their_object_and_none_to_a_business(make_app, people_org):
    from scoring import queries

    kind, member = people_org.member("高橋", "三郎", "タカハシ", "サブロウ", "saburo@example.jp")
    lead = people_org.devorg.insert("Lead", LastName="伊藤", Company="個人", Email="ito@example.jp")
    shop = people_org.devorg.insert("Account", Name="高橋酒店")
    app = synced_app(make_app, people_org)
    with app.app_context(), db.transaction() as session:
        session.execute(queries.add_missing_people_from_mirror(db.utcnow(), session.get_bind().dialect.name))
        from scoring.models import PersonScore

        rows = {p.person_id: p.object_name for p in session.scalars(select(PersonScore))}
    assert rows[member] == kind and rows[lead] == "Lead" and shop not in rows


def test_an_operator_s_form_for_a_chosen_member_updates_them_and_logs_the_call_on_their_contact(
        make_app, people_org, sign_in):
    from forms.schema import load_yaml
    from forms.service import save_definition
    from tests.forms.helpers import GATEWAY_OPTIONS, all_status, token_of, work_until

    kind, member = people_org.member("中村", "愛", "ナカムラ", "アイ", "ai@example.jp", "090-4444-5555", "M-42")
    lead = people_org.model.get("Lead")
    app = make_app(config={"SALESFORCE_GATEWAY_OPTIONS": GATEWAY_OPTIONS}, **people_org.settings())
    assert run_cycle(app).outcome == "ok"
    form = f"""
key: call_note
title: 電話受付
audience: operator
object: Lead
mode: match_then_update_or_create
match: [phone]
hidden: {{Company: 個人}}
create_only: [Company]
sections:
  - title: お客様
    fields:
      - {{name: LastName, label: 姓, type: text, required: true}}
      - {{name: FirstName, label: 名, type: text}}
      - {{name: {lead.kana[0]}, label: セイ, type: kana}}
      - {{name: {lead.kana[1]}, label: メイ, type: kana}}
      - {{name: Email, label: メール, type: email}}
actions:
  - {{type: create_task, subject: 電話受付}}
"""
    with db.get_db(app).transaction() as session:
        for spec in load_yaml(form):
            save_definition(session, spec)
    client = sign_in("operator", app.test_client())
    token = token_of(client.get(f"/forms/call_note?person={member}").get_data(as_text=True))
    response = client.post("/forms/call_note", data={
        "_token": token, "_stage": "submit", "_person": member, "LastName": "中村", "FirstName": "愛",
        lead.kana[0]: "なかむら", lead.kana[1]: "あい", "Email": "ai.nakamura@example.jp"})
    assert response.status_code == 303, response.get_data(as_text=True)
    work_until(app, all_status(app, "written"))
    person = people_org.model.get(kind)
    record = people_org.devorg.get(kind, member)
    assert record[person.email[0]] == "ai.nakamura@example.jp" and record[person.kana[0]] == "ナカムラ"
    assert people_org.devorg.records("Lead") == []  # the member was updated, not made a second person
    [task] = people_org.devorg.records("Task")
    assert (task["Subject"], task["WhoId"]) == ("電話受付", people_org.contact_of(member))


def test_a_broadcast_reaches_every_member_once_before_a_lead_with_their_address_and_no_business(
        make_app, people_org):
    """A broadcast to everyone enters the org's people (Contacts, or Person Accounts), one mail per
    address with the member chosen over a Lead sharing it, and never a business Account."""
    from tests.automations.helpers import load, outbox, run, template, tokyo

    _kind, hanako = people_org.member("山田", "花子", "ヤマダ", "ハナコ", "hanako@example.jp")
    _kind, jiro = people_org.member("佐藤", "次郎", "サトウ", "ジロウ", "jiro@example.jp")
    people_org.devorg.insert("Lead", LastName="山田", Company="個人", Email="Hanako@Example.jp")  # her, as a Lead
    lead = people_org.devorg.insert("Lead", LastName="伊藤", Company="個人", Email="ito@example.jp")
    people_org.devorg.insert("Account", Name="山田商店", Phone="03-6496-3255")  # a business
    app = synced_app(make_app, people_org)
    template(app, "news")
    load(app, """
segments:
  - {key: everyone, name: 全員, conditions: []}
automations:
  - key: news-dec
    name: 一斉配信
    trigger: {type: broadcast, segment: everyone, at: "2026-12-01T07:00:00+09:00"}
    actions:
      - {type: send_mail, template: news}
""")
    run(app, tokyo(2026, 12, 1, 9, 0))
    run(app, tokyo(2026, 12, 1, 9, 1))
    mails = {m.to_address.lower(): m.person_id for m in outbox(app)}
    assert mails == {"hanako@example.jp": hanako, "jiro@example.jp": jiro, "ito@example.jp": lead}


def test_an_operator_s_trial_set_form_for_a_new_applicant_logs_the_call_and_the_campaign_on_their_contact(
        make_app, people_org, sign_in):
    """A new applicant on the phone becomes a member of the org's kind (a Contact, or a new Person
    Account) and the form's Task and CampaignMember name them as Salesforce wants: by the Contact."""
    from forms.schema import load_yaml
    from forms.service import save_definition
    from tests.forms.helpers import GATEWAY_OPTIONS, all_status, token_of, work_until

    kind = people_org.member_object
    person = people_org.model.get(kind)
    campaign = people_org.devorg.insert("Campaign", Name="お試しセット 12月")
    app = make_app(config={"SALESFORCE_GATEWAY_OPTIONS": GATEWAY_OPTIONS}, **people_org.settings())
    assert run_cycle(app).outcome == "ok"
    form = f"""
key: trial_set
title: お試しセット申込
audience: operator
object: {kind}
mode: match_then_update_or_create
match: [phone]
sections:
  - title: お客様
    fields:
      - {{name: {person.last_first[0]}, label: 姓, type: text, required: true}}
      - {{name: {person.last_first[1]}, label: 名, type: text}}
      - {{name: {person.kana[0]}, label: セイ, type: kana}}
      - {{name: {person.kana[1]}, label: メイ, type: kana}}
      - {{name: {person.phone[0]}, label: 電話番号, type: phone}}
      - {{name: {person.email[0]}, label: メール, type: email}}
actions:
  - {{type: create_task, subject: 電話受付（お試しセット申込）}}
  - {{type: add_to_campaign, campaign_id: {campaign}, status: Responded}}
"""
    with app.app_context(), db.get_db(app).transaction() as session:  # the org's person model decides
        for spec in load_yaml(form):
            save_definition(session, spec)
    client = sign_in("operator", app.test_client())
    token = token_of(client.get("/forms/trial_set").get_data(as_text=True))
    response = client.post("/forms/trial_set", data={
        "_token": token, "_stage": "submit", person.last_first[0]: "小林", person.last_first[1]: "恵",
        person.kana[0]: "こばやし", person.kana[1]: "めぐみ", person.phone[0]: "090-7777-8888",
        person.email[0]: "megumi@example.jp"})
    assert response.status_code == 303, response.get_data(as_text=True)
    work_until(app, all_status(app, "written"))
    [member] = [r for r in people_org.devorg.records(kind) if r["LastName"] == "小林"]
    assert member[person.kana[0]] == "コバヤシ" and member[person.email[0]] == "megumi@example.jp"
    contact = people_org.contact_of(member["Id"])
    [task] = people_org.devorg.records("Task")
    assert (task["Subject"], task["WhoId"]) == ("電話受付（お試しセット申込）", contact)
    [joined] = people_org.devorg.records("CampaignMember")
    assert (joined["CampaignId"], joined["ContactId"], joined["Status"]) == (campaign, contact, "Responded")


def test_a_task_for_a_new_member_waits_out_a_failed_contact_look_up_and_is_written_once(make_app, people_org):
    """The write-back of a new member's Task survives Salesforce failing while its who-id is read back."""
    from tests.forms.helpers import GATEWAY_OPTIONS, items, time_passes
    from writeback.queue import enqueue, ref

    person = people_org.model.get(people_org.member_object)
    app = make_app(config={"SALESFORCE_GATEWAY_OPTIONS": GATEWAY_OPTIONS}, **people_org.settings())
    with db.get_db(app).transaction() as session:
        made = enqueue(session, key="new-member", object_name=person.name, operation="create",
                       fields={person.last_first[0]: "松本", person.last_first[1]: "翔"})
        enqueue(session, key="new-member-call", object_name="Task", operation="create", depends_on=made,
                fields={"Subject": "入会のご案内", "Status": "Completed", "WhoId": ref(made, "who")})
    people_org.devorg.inject_fault(r"/query", "503", count=1)
    for _ in range(4):
        process_due(app, "test-worker")
        time_passes(app)
    assert [i.status for i in items(app)] == ["written", "written"]
    [member] = people_org.devorg.records(person.name)
    [task] = people_org.devorg.records("Task")
    assert task["WhoId"] == people_org.contact_of(member["Id"])
