"""Record validation, upsert by external id, describe and the recycle bin, through simple-salesforce."""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound

from devorg import ids

pytestmark = pytest.mark.db_independent


@pytest.mark.parametrize(("fields", "code", "field"), [
    ({"FirstName": "名だけ"}, "REQUIRED_FIELD_MISSING", "LastName"),
    ({"LastName": "x" * 81}, "STRING_TOO_LONG", "LastName"),
    ({"LastName": "山田", "Email": "yamada@"}, "INVALID_EMAIL_ADDRESS", "Email"),
    ({"LastName": "山田", "Nope__c": 1}, "INVALID_FIELD", None),
    ({"LastName": "山田", "Name": "山田 太郎"}, "INVALID_FIELD_FOR_INSERT_UPDATE", "Name"),
    ({"LastName": "山田", "Absent__c": "yes"}, "JSON_PARSER_ERROR", None),
    ({"LastName": "山田", "AccountId": "not-an-id"}, "MALFORMED_ID", "AccountId"),
])
def test_invalid_contact_is_refused_with_salesforce_error(devorg, fields, code, field):
    with pytest.raises(SalesforceMalformedRequest) as caught:
        devorg.salesforce().Contact.create(fields)
    error = caught.value.content[0]
    assert error["errorCode"] == code
    assert error["message"]
    if field:
        assert field in error["fields"]
    assert devorg.records("Contact") == []


def test_restricted_picklist_refuses_unknown_visit_result(devorg):
    sf = devorg.salesforce()
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Task.create({"Subject": "訪問", "Visit_Result__c": "留守"})
    assert caught.value.content[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    created = sf.Task.create({"Subject": "訪問", "Visit_Result__c": "不在"})
    assert devorg.get("Task", created["id"])["Visit_Result__c"] == "不在"
    assert devorg.get("Task", created["id"])["Status"] == "Not Started"


def test_duplicate_external_id_is_duplicate_value(devorg):
    first = devorg.insert("Contact", LastName="一", Tsunagi_Key__c="k-1")
    with pytest.raises(SalesforceMalformedRequest) as caught:
        devorg.salesforce().Contact.create({"LastName": "二", "Tsunagi_Key__c": "K-1"})
    assert caught.value.content[0]["errorCode"] == "DUPLICATE_VALUE"
    assert first in caught.value.content[0]["message"]


def test_update_and_delete_of_unknown_or_deleted_records(devorg):
    sf = devorg.salesforce()
    missing = ids.make_id("003", 99_999_999)
    with pytest.raises(SalesforceResourceNotFound) as caught:
        sf.Contact.update(missing, {"LastName": "x"})
    assert caught.value.content[0]["errorCode"] == "NOT_FOUND"
    gone = devorg.insert("Contact", LastName="消")
    devorg.delete("Contact", gone)
    with pytest.raises(SalesforceResourceNotFound) as caught:
        sf.Contact.delete(gone)
    assert caught.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"


def test_fifteen_character_id_reaches_the_same_record(devorg):
    contact = devorg.insert("Contact", LastName="短")
    assert devorg.salesforce().Contact.get(contact[:15])["Id"] == contact


def test_upsert_by_external_id_creates_then_updates(devorg):
    sf = devorg.salesforce()
    created = sf.Contact.upsert("Tsunagi_Key__c/member-1", {"LastName": "新規"}, raw_response=True)
    assert created.status_code == 201
    body = created.json()
    assert body["created"] is True and body["success"] is True
    updated = sf.Contact.upsert("Tsunagi_Key__c/member-1", {"LastName": "更新"}, raw_response=True)
    assert updated.status_code == 200
    assert updated.json() == {"id": body["id"], "success": True, "errors": [], "created": False}
    assert [(c["LastName"], c["Tsunagi_Key__c"]) for c in devorg.records("Contact")] == [("更新", "member-1")]
    assert sf.Contact.get_by_custom_id("Tsunagi_Key__c", "member-1")["Id"] == body["id"]


def test_collection_upsert_reports_created_per_record(devorg):
    devorg.insert("Lead", LastName="既存", Company="c", Tsunagi_Key__c="a")
    results = devorg.salesforce().restful("composite/sobjects/Lead/Tsunagi_Key__c", method="PATCH", json={
        "allOrNone": False, "records": [
            {"attributes": {"type": "Lead"}, "Tsunagi_Key__c": "a", "Score__c": 5},
            {"attributes": {"type": "Lead"}, "Tsunagi_Key__c": "b", "LastName": "新", "Company": "c"},
        ]})
    assert [(r["success"], r["created"]) for r in results] == [(True, False), (True, True)]
    assert {r["Tsunagi_Key__c"]: r["Score__c"] for r in devorg.records("Lead")} == {"a": 5, "b": None}


def test_collection_of_more_than_200_records_is_refused(devorg):
    records = [{"attributes": {"type": "Contact"}, "LastName": f"c{n}"} for n in range(201)]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        devorg.salesforce().restful("composite/sobjects", method="POST", json={"records": records})
    assert caught.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    assert devorg.records("Contact") == []


def test_collection_delete_and_retrieve(devorg):
    first = devorg.insert("Contact", LastName="一")
    second = devorg.insert("Contact", LastName="二")
    sf = devorg.salesforce()
    fetched = sf.restful("composite/sobjects/Contact", params={"ids": f"{first},{second}", "fields": "LastName"})
    assert [r["LastName"] for r in fetched] == ["一", "二"]
    deleted = sf.restful("composite/sobjects", method="DELETE", params={"ids": first})
    assert deleted == [{"id": first, "success": True, "errors": []}]
    assert [c["Id"] for c in devorg.records("Contact")] == [second]


def test_describe_reports_types_labels_and_picklists(devorg):
    sf = devorg.salesforce()
    described = sf.Task.describe()
    fields = {f["name"]: f for f in described["fields"]}
    assert described["keyPrefix"] == "00T" and described["label"] == "ToDo"
    visit = fields["Visit_Result__c"]
    assert visit["type"] == "picklist" and visit["custom"] is True and visit["restrictedPicklist"] is True
    assert [p["value"] for p in visit["picklistValues"]] == ["在宅", "不在", "訪問不要"]
    assert fields["WhoId"]["referenceTo"] == ["Contact", "Lead"] and fields["WhoId"]["relationshipName"] == "Who"
    assert fields["Id"]["createable"] is False
    contact = {f["name"]: f for f in sf.Contact.describe()["fields"]}
    assert contact["LastName"]["length"] == 80 and contact["LastName"]["nillable"] is False
    assert contact["Absent__c"]["type"] == "boolean" and contact["Absent__c"]["label"] == "不在"
    assert contact["Tsunagi_Key__c"]["externalId"] is True and contact["Tsunagi_Key__c"]["unique"] is True
    english = devorg.session().get(f"{devorg.instance_url}/services/data/v59.0/sobjects/Contact/describe",
                                   headers={"Authorization": f"Bearer {devorg.access_token()}",
                                            "Accept-Language": "en-US"}).json()
    assert english["label"] == "Contact"
    assert {f["name"]: f["label"] for f in english["fields"]}["Absent__c"] == "Absent"


def test_ids_carry_key_prefix_and_case_safe_checksum(devorg):
    prefixes = {"Lead": "00Q", "Contact": "003", "Account": "001", "Task": "00T", "Event": "00U",
                "Campaign": "701", "User": "005"}
    made = {
        "Lead": devorg.insert("Lead", LastName="l", Company="c"),
        "Contact": devorg.insert("Contact", LastName="c"),
        "Account": devorg.insert("Account", Name="a"),
        "Task": devorg.insert("Task", Subject="t"),
        "Event": devorg.insert("Event", Subject="e"),
        "Campaign": devorg.insert("Campaign", Name="c"),
        "User": devorg.insert("User", Username="u@example.jp", LastName="u", Email="u@example.jp", Alias="u"),
    }
    member = devorg.insert("CampaignMember", CampaignId=made["Campaign"], ContactId=made["Contact"])
    assert member.startswith("00v")
    for name, record_id in made.items():
        assert record_id.startswith(prefixes[name])
        assert len(record_id) == 18 and ids.checksum(record_id[:15]) == record_id[15:]
    # the checksum is Salesforce's: one suffix letter per 5-character chunk's upper-case positions
    assert ids.to18("001A0000006Vm9r") == "001A0000006Vm9rIAC"
