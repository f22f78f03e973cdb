"""apply_records: the mirror upsert and the change events other packages consume."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

import db
from sync.mirror import apply_records, mark_deleted
from sync.models import ChangeEvent, MirrorRecord

LEAD = "00Q000000000001AAA"


def lead(stamp: str = "2026-11-20T10:00:00.000+0000", **fields):
    return {"attributes": {"type": "Lead", "url": f"/services/data/v59.0/sobjects/Lead/{LEAD}"},
            "Id": LEAD, "SystemModstamp": stamp, "IsDeleted": False, "LastName": "山田",
            "FirstName": "太郎", "Email": "Taro@Example.JP", "Phone": "090-1234-5678",
            "Company": "株式会社 テスト", "Status": "Open", **fields}


def apply(app, records, source="poll", object_name="Lead"):
    with db.get_db(app).transaction() as s:
        events = apply_records(s, object_name, records, source)
        return [(e.kind, e.field, e.old_value, e.new_value, e.source) for e in events]


def mirror(app, sf_id=LEAD):
    with db.get_db(app).transaction() as s:
        return s.get(MirrorRecord, sf_id)


def event_count(app):
    with db.get_db(app).transaction() as s:
        return s.scalar(select(func.count()).select_from(ChangeEvent))


def test_new_record_is_mirrored_with_lookup_keys_and_one_created_event(app):
    assert apply(app, [lead()]) == [("created", None, None, None, "poll")]
    row = mirror(app)
    assert row.object_name == "Lead"
    assert row.fields["LastName"] == "山田" and "attributes" not in row.fields
    assert row.email_key == "taro@example.jp"
    assert row.phone_key == "+819012345678"
    assert row.name_key == "山田太郎"
    assert row.company_key == "テスト"
    assert row.system_modstamp.isoformat() == "2026-11-20T10:00:00+00:00"


def test_changed_fields_give_one_updated_event_each_and_keys_follow(app):
    apply(app, [lead()])
    events = apply(app, [lead("2026-11-20T10:05:00.000+0000", Status="Working", Email="new@example.jp")])
    assert sorted(events) == [("updated", "Email", "Taro@Example.JP", "new@example.jp", "poll"),
                              ("updated", "Status", "Open", "Working", "poll")]
    assert mirror(app).email_key == "new@example.jp"


def test_same_record_twice_changes_nothing_and_records_no_event(app):
    apply(app, [lead()])
    apply(app, [lead("2026-11-20T10:05:00.000+0000", Status="Working")])
    assert apply(app, [lead("2026-11-20T10:05:00.000+0000", Status="Working")]) == []
    assert event_count(app) == 2


def test_change_seen_by_outbound_then_poll_is_one_event_marked_outbound(app):
    apply(app, [lead()])
    partial = {"Id": LEAD, "SystemModstamp": "2026-11-20T10:05:00.000Z", "Status": "不在"}
    assert apply(app, [partial], source="outbound") == [("updated", "Status", "Open", "不在", "outbound")]
    assert apply(app, [lead("2026-11-20T10:05:00.000+0000", Status="不在")]) == []
    assert mirror(app).last_source == "outbound"  # the values came from the outbound message


def test_partial_record_compares_and_keeps_only_the_fields_it_carries(app):
    apply(app, [lead()])
    apply(app, [{"Id": LEAD, "SystemModstamp": "2026-11-20T10:05:00.000Z", "Status": "Working"}], "outbound")
    row = mirror(app)
    assert row.fields["Email"] == "Taro@Example.JP" and row.fields["Status"] == "Working"
    assert row.email_key == "taro@example.jp"


def test_record_older_than_the_mirror_does_not_overwrite_newer_values(app):
    apply(app, [lead("2026-11-20T10:05:00.000+0000", Status="Working")])
    assert apply(app, [lead("2026-11-20T10:00:00.000+0000", Status="Open")]) == []
    assert mirror(app).fields["Status"] == "Working"


def test_delete_and_undelete_are_events_and_flags(app):
    apply(app, [lead()])
    assert apply(app, [lead("2026-11-20T10:05:00.000+0000", IsDeleted=True)]) == [
        ("deleted", None, None, None, "poll")]
    assert mirror(app).is_deleted is True
    assert apply(app, [lead("2026-11-20T10:09:00.000+0000", IsDeleted=False)]) == [
        ("undeleted", None, None, None, "poll")]
    assert mirror(app).is_deleted is False


def test_delete_from_the_delete_log_marks_the_record_once(app):
    apply(app, [lead()])
    from sync.values import parse_datetime

    with db.get_db(app).transaction() as s:
        first = mark_deleted(s, "Lead", {LEAD: parse_datetime("2026-11-20T11:00:00Z")})
        again = mark_deleted(s, "Lead", {LEAD: parse_datetime("2026-11-20T11:00:00Z")})
        unknown = mark_deleted(s, "Lead", {"00Q000000000009AAA": None})
        assert [e.kind for e in first] == ["deleted"] and again == [] and unknown == []
    # The poll later brings the same deleted row from queryAll: nothing new happens.
    assert apply(app, [lead("2026-11-20T11:00:00.000+0000", IsDeleted=True)]) == []


def test_writeback_without_a_stamp_shows_at_once_and_the_poll_echo_is_silent(app):
    apply(app, [lead()])
    assert apply(app, [{"Id": LEAD, "Status": "Qualified"}], source="writeback") == [
        ("updated", "Status", "Open", "Qualified", "writeback")]
    # Salesforce stamps our write a moment later; the poll sees the same value: no second event.
    assert apply(app, [lead("2026-11-20T10:00:01.000+0000", Status="Qualified")]) == []


def test_record_created_by_writeback_is_completed_by_the_poll_without_field_events(app):
    new_id = "00Q000000000002AAA"
    assert apply(app, [{"Id": new_id, "LastName": "佐藤"}], source="writeback") == [
        ("created", None, None, None, "writeback")]
    full = {"Id": new_id, "SystemModstamp": "2026-11-20T10:00:00.000+0000", "LastName": "佐藤",
            "OwnerId": "005000000000001AAA", "CreatedDate": "2026-11-20T10:00:00.000+0000"}
    assert apply(app, [full]) == []
    assert mirror(app, new_id).fields["OwnerId"] == "005000000000001AAA"


def test_new_custom_field_is_stored_without_an_event_then_tracked(app):
    apply(app, [lead()])
    assert apply(app, [lead(Rank__c="A")]) == []
    assert apply(app, [lead("2026-11-20T10:05:00.000+0000", Rank__c="B")]) == [
        ("updated", "Rank__c", "A", "B", "poll")]


def test_parent_fields_are_flattened_and_cleared_with_their_lookup(app):
    contact = {"Id": "003000000000001AAA", "SystemModstamp": "2026-11-20T10:00:00.000+0000",
               "LastName": "鈴木", "AccountId": "001000000000001AAA",
               "Account": {"attributes": {"type": "Account"}, "Name": "㈱サンプル"}}
    apply(app, [contact], object_name="Contact")
    row = mirror(app, "003000000000001AAA")
    assert row.fields["Account.Name"] == "㈱サンプル" and row.company_key == "サンプル"
    cleared = {**contact, "SystemModstamp": "2026-11-20T10:05:00.000+0000", "AccountId": None, "Account": None}
    events = apply(app, [cleared], object_name="Contact")
    assert ("updated", "Account.Name", "㈱サンプル", None, "poll") in events
    assert mirror(app, "003000000000001AAA").company_key is None


def test_same_id_twice_in_one_batch_keeps_the_latest(app):
    events = apply(app, [lead("2026-11-20T10:05:00.000+0000", Status="Working"), lead(Status="Open")])
    assert events == [("created", None, None, None, "poll")]
    assert mirror(app).fields["Status"] == "Working"


def test_datetimes_in_soap_and_rest_form_compare_equal(app):
    apply(app, [lead(ConvertedDate=None, LastActivityDate="2026-11-19", Visit__c="2026-11-20T01:00:00.000+0000")])
    assert apply(app, [lead(ConvertedDate=None, LastActivityDate="2026-11-19",
                            Visit__c="2026-11-20T10:00:00+09:00")]) == []


def test_unknown_source_and_records_without_id_are_refused(app):
    with pytest.raises(ValueError):
        apply(app, [lead()], source="someone")
    with pytest.raises(ValueError):
        apply(app, [{"LastName": "x"}])


def test_many_records_upsert_in_one_call(app):
    records = [{"Id": f"00Q{n:012d}AAA", "SystemModstamp": "2026-11-20T10:00:00.000+0000",
                "LastName": f"name{n}", "Email": f"p{n}@example.jp"} for n in range(1200)]
    assert len(apply(app, records)) == 1200
    changed = [{**r, "SystemModstamp": "2026-11-20T10:01:00.000+0000", "LastName": r["LastName"] + "x"}
               for r in records]
    assert len(apply(app, changed)) == 1200
    with db.get_db(app).transaction() as s:
        assert s.scalar(select(func.count()).select_from(MirrorRecord)) == 1200


def test_member_number_and_reversed_keys_follow_the_configured_member_field(app, make_app, tmp_path):
    from config.settings import SettingsError, load_settings

    contact = {"Id": "003000000000001AAA", "SystemModstamp": "2026-11-20T10:00:00.000+0000", "IsDeleted": False,
               "LastName": "佐藤", "Email": "Sato.Jiro@example.jp", "Phone": "03-6496-3255",
               "Tsunagi_Key__c": "ＭＥＭＢＥＲ－０００１２３", "Member_No__c": "K-77"}
    apply(app, [contact], object_name="Contact")
    row = mirror(app, contact["Id"])
    assert (row.member_key, row.phone_rev_key, row.email_local_rev_key) == ("member-000123", "55236946318",
                                                                            "orij.otas")
    # The operator sets FORMS_MEMBER_NUMBER_FIELD=Member_No__c and restarts: the setting travels in the
    # app's person model, no process-wide state.
    renamed = make_app(forms_member_number_field="Member_No__c")
    with renamed.app_context():
        # The record changes in a field that feeds no key: the member key still follows the new field.
        apply(renamed, [{**contact, "SystemModstamp": "2026-11-20T10:05:00.000+0000", "Title": "組合員"}],
              object_name="Contact")
    assert mirror(app, contact["Id"]).member_key == "k-77"
    with pytest.raises(SettingsError, match="FORMS_MEMBER_NUMBER_FIELD"):
        load_settings({"TSUNAGI_DEBUG": "1", "FORMS_MEMBER_NUMBER_FIELD": "x; DROP"}, instance_path=tmp_path)
