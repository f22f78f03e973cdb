"""Field-change, record-created and form triggers, with conditions on related records."""

from __future__ import annotations

from datetime import UTC, datetime

import db as dbmod
from tests.automations.helpers import history, load, outbox, run, template, tokyo, upsert, writebacks

ABSENT = """
automations:
  - key: absent
    name: 不在フォロー
    trigger: {type: field_changed, object: Task, field: Visit_Result__c, to: 不在}
    conditions:
      - {field: person.Email, op: is_set}
    actions:
      - {type: send_mail, template: revisit}
      - {type: create_task, subject: 不在フォローメール送信}
"""
NOON = tokyo(2026, 11, 24, 12, 0)


def _contact(app, **fields):
    fields = {"LastName": "山田", "Email": "yamada@example.jp", "HasOptedOutOfEmail": False, **fields}
    return upsert(app, "Contact", **fields)


def test_task_becoming_absent_mails_the_related_contact_once_and_logs_a_task(app):
    template(app, "revisit")
    load(app, ABSENT)
    contact = _contact(app)
    task = upsert(app, "Task", WhoId=contact, Subject="訪問", Visit_Result__c=None, OwnerId="005000000000001AAA")
    upsert(app, "Task", Id=task, Visit_Result__c="不在")
    run(app, NOON)
    run(app, NOON)
    mails = outbox(app)
    assert [(m.to_address, m.template_key) for m in mails] == [("yamada@example.jp", "revisit")]
    assert mails[0].person_id == contact
    tasks = writebacks(app, "Task")
    assert len(tasks) == 1
    assert tasks[0].operation == "create"
    assert tasks[0].fields["WhoId"] == contact
    assert tasks[0].fields["Subject"] == "不在フォローメール送信"
    assert "revisit" in tasks[0].fields["Description"]


def test_other_values_and_unrelated_fields_do_not_fire(app):
    template(app, "revisit")
    load(app, ABSENT)
    contact = _contact(app)
    task = upsert(app, "Task", WhoId=contact, Visit_Result__c=None, Subject="訪問")
    upsert(app, "Task", Id=task, Visit_Result__c="在宅")
    upsert(app, "Task", Id=task, Subject="再訪問")
    run(app, NOON)
    assert outbox(app) == []


def test_our_own_writeback_echo_does_not_fire_a_person_facing_trigger(app):
    template(app, "revisit")
    load(app, ABSENT)
    task = upsert(app, "Task", WhoId=_contact(app), Visit_Result__c=None)
    upsert(app, "Task", Id=task, source="writeback", Visit_Result__c="不在")
    run(app, NOON)
    assert outbox(app) == []


def test_a_task_created_as_absent_fires_like_a_change_to_absent(app):
    template(app, "revisit")
    load(app, ABSENT)
    contact = _contact(app)
    upsert(app, "Task", WhoId=contact, Subject="訪問", Visit_Result__c="不在")  # a rep created it in Salesforce
    upsert(app, "Task", WhoId=contact, Subject="訪問", Visit_Result__c="在宅")
    run(app, NOON)
    run(app, NOON)
    assert [(m.to_address, m.template_key) for m in outbox(app)] == [("yamada@example.jp", "revisit")]
    assert "作成時 Visit_Result__c = '不在'" in history(app, "fired")[0].reason


def test_the_visit_form_s_own_write_fires_when_the_automation_includes_writebacks(app):
    template(app, "revisit")
    load(app, ABSENT.replace("to: 不在}", "to: 不在, include_writeback: true}"))
    contact = _contact(app)
    # The sales visit screen's Task, written by the write-back queue and mirrored as our own write.
    upsert(app, "Task", source="writeback", WhoId=contact, Subject="訪問結果", Visit_Result__c="不在")
    run(app, NOON)
    assert len(outbox(app)) == 1


def test_the_first_load_of_the_mirror_fires_nothing(app):
    from sync.models import INITIAL_LOAD

    template(app, "revisit")
    load(app, ABSENT + """
  - key: welcome
    name: 新規リード
    trigger: {type: record_created, object: Lead}
    actions:
      - {type: send_mail, template: revisit}
""")
    contact = _contact(app, source=INITIAL_LOAD)
    upsert(app, "Task", source=INITIAL_LOAD, WhoId=contact, Visit_Result__c="不在")
    upsert(app, "Lead", source=INITIAL_LOAD, LastName="古い", Company="既存", Email="old@example.jp")
    run(app, NOON)
    assert outbox(app) == []
    upsert(app, "Lead", LastName="新しい", Company="新規", Email="new@example.jp")  # news after the load
    run(app, NOON)
    assert [m.to_address for m in outbox(app)] == ["new@example.jp"]


def _absent_seen_twice(app, task):
    """The change to 不在 arrives by Outbound Message, then the poll reports the very same change
    (same SystemModstamp) again as a second event."""
    from sync.models import ChangeEvent

    upsert(app, "Task", Id=task, source="outbound", Visit_Result__c="不在")
    with dbmod.get_db(app).transaction() as session:
        first = session.query(ChangeEvent).filter_by(record_id=task, field="Visit_Result__c").one()
        session.add(ChangeEvent(object_name="Task", record_id=task, kind="updated", field="Visit_Result__c",
                                old_value=None, new_value="不在", occurred_at=first.occurred_at, source="poll"))


def test_the_same_change_seen_twice_sends_once(app):
    template(app, "revisit")
    load(app, ABSENT)
    task = upsert(app, "Task", WhoId=_contact(app), Visit_Result__c=None)
    _absent_seen_twice(app, task)
    run(app, NOON)
    assert len(outbox(app)) == 1


def test_with_reentry_always_the_same_change_twice_in_one_batch_sends_once_and_a_new_change_again(app):
    template(app, "revisit")
    load(app, ABSENT.replace("    conditions:", "    reentry: always\n    conditions:", 1))
    task = upsert(app, "Task", WhoId=_contact(app), Visit_Result__c=None)
    _absent_seen_twice(app, task)
    run(app, NOON)  # both events are evaluated in one batch
    assert len(outbox(app)) == 1
    upsert(app, "Task", Id=task, Visit_Result__c="在宅")
    upsert(app, "Task", Id=task, Visit_Result__c="不在")  # absent again on a later visit
    run(app, NOON)
    assert len(outbox(app)) == 2


def test_conditions_on_the_related_person_are_checked_and_the_reason_is_kept(app):
    template(app, "revisit")
    load(app, ABSENT)
    nobody = upsert(app, "Contact", LastName="メールなし")
    task = upsert(app, "Task", WhoId=nobody, Visit_Result__c=None)
    upsert(app, "Task", Id=task, Visit_Result__c="不在")
    run(app, NOON)
    assert outbox(app) == []
    [row] = history(app, "not_entered")
    assert "person.Email is_set" in row.reason
    assert row.record_id == task


def test_an_opted_out_person_gets_no_mail_and_the_history_says_why(app):
    template(app, "revisit")
    load(app, ABSENT.replace("    actions:\n", "    exit: {unsubscribed: false}\n    actions:\n"))
    contact = _contact(app, HasOptedOutOfEmail=True)
    task = upsert(app, "Task", WhoId=contact, Visit_Result__c=None)
    upsert(app, "Task", Id=task, Visit_Result__c="不在")
    run(app, NOON)
    assert outbox(app) == []
    assert any("HasOptedOutOfEmail" in row.reason for row in history(app))


def test_changed_from_to_and_became_true_and_created_with_filter(app):
    template(app, "t")
    load(app, """
automations:
  - key: from-to
    name: from to
    trigger: {type: field_changed, object: Lead, field: Status, from: 新規, to: 商談中}
    actions: [{type: send_mail, template: t}]
  - key: became-true
    name: became true
    trigger: {type: field_changed, object: Lead, field: Catalog_Requested__c, became_true: true}
    actions: [{type: send_mail, template: t}]
  - key: created
    name: created
    trigger: {type: record_created, object: Lead}
    conditions: [{field: LeadSource, op: eq, value: 資料請求}]
    actions: [{type: send_mail, template: t}]
""")
    a = upsert(app, "Lead", LastName="A", Email="a@example.jp", Status="新規", Catalog_Requested__c=False,
               LeadSource="Web")
    b = upsert(app, "Lead", LastName="B", Email="b@example.jp", Status="対応中", LeadSource="資料請求")
    upsert(app, "Lead", Id=a, Status="商談中", Catalog_Requested__c=True)
    upsert(app, "Lead", Id=b, Status="商談中")
    run(app, NOON)
    sent = sorted((m.to_address, m.origin_ref.split("/")[0]) for m in outbox(app))
    assert sent == [("a@example.jp", "became-true"), ("a@example.jp", "from-to"), ("b@example.jp", "created")]


def test_form_submission_starts_an_automation_for_the_person(app):
    from activity.record import record_activity

    template(app, "thanks")
    load(app, """
automations:
  - key: catalog
    name: 資料請求お礼
    trigger: {type: form_submitted, form: 資料請求}
    actions: [{type: send_mail, template: thanks}]
""")
    lead = upsert(app, "Lead", LastName="佐藤", Email="sato@example.jp")
    with dbmod.get_db(app).transaction() as session:
        record_activity(session, "form_submit", person_id=lead, details={"form_key": "資料請求"})
        record_activity(session, "form_submit", person_id=lead, details={"form_key": "お問い合わせ"})
    run(app, NOON)
    assert [m.to_address for m in outbox(app)] == ["sato@example.jp"]


def test_score_crossing_a_threshold_fires_once(app):
    from automations.jobs import runtime
    from automations.triggers import fire_external

    template(app, "hot")
    load(app, """
automations:
  - key: hot-lead
    name: ホットリード
    trigger: {type: score_threshold, threshold: 50}
    actions: [{type: notify_owner, template: hot, links: {booking: {form: revisit_booking}}}]
""")
    owner = upsert(app, "User", Email="rep@example.jp", Name="担当")
    lead = upsert(app, "Lead", LastName="鈴木", Email="suzuki@example.jp", OwnerId=owner)
    now = datetime(2026, 11, 24, 3, tzinfo=UTC)
    with app.app_context(), dbmod.get_db(app).transaction() as session:
        rt = runtime(now)
        assert fire_external(session, "score_threshold", lead, {"score": 40, "previous": 10}, rt=rt) == 0
        assert fire_external(session, "score_threshold", lead, {"score": 55, "previous": 40}, rt=rt) == 1
        assert fire_external(session, "score_threshold", lead, {"score": 55, "previous": 40}, rt=rt) == 0
    run(app, now)
    mails = outbox(app)
    assert [(m.to_address, m.marketing) for m in mails] == [("rep@example.jp", False)]
    assert "/f/revisit_booking?t=" in mails[0].context["links"]["booking"]
