"""`DEVORG_DEFINITION`: the dev org serves another company's org definition, checked with clear errors."""

from __future__ import annotations

import json

import pytest

from devorg.definition import DefinitionError, load_definition
from devorg.org import DevOrg

pytestmark = pytest.mark.db_independent

RENTALS = """
org:
  name: レンタル株式会社 (rehearsal)
custom_fields:
  Contact:
    Kana_Last__c: {type: string, length: 80, label: [セイ, Last Kana]}
    Member_No__c: {type: string, length: 20, unique: true, external_id: true}
objects:
  Rental__c:
    prefix: a01
    label: [貸出, Rental, 貸出, Rentals]
    owned: true
    fields:
      Name: {type: string, length: 80, required: true, label: [貸出名, Rental Name]}
      Contact__c: {type: reference, ref: [Contact], rel: Contact__r, label: [借主, Borrower]}
      Due__c: {type: date, label: [返却日, Due]}
"""


def test_a_company_definition_serves_its_custom_object_and_fields_over_rest(tmp_path):
    path = tmp_path / "rentals.yaml"
    path.write_text(RENTALS, encoding="utf-8")
    org = DevOrg(tmp_path / "org", definition=path).start()
    try:
        sf = org.salesforce()
        contact = sf.Contact.create({"LastName": "山田", "Kana_Last__c": "ヤマダ", "Member_No__c": "M-1"})["id"]
        rental = sf.Rental__c.create({"Name": "脚立", "Contact__c": contact, "Due__c": "2026-12-24"})["id"]
        assert rental.startswith("a01")
        rows = sf.query("SELECT Name, Contact__r.Kana_Last__c FROM Rental__c")["records"]
        assert rows[0]["Name"] == "脚立" and rows[0]["Contact__r"]["Kana_Last__c"] == "ヤマダ"
        names = {f["name"]: f for f in sf.Rental__c.describe()["fields"]}
        assert names["Due__c"]["custom"] and names["Contact__c"]["referenceTo"] == ["Contact"]
        # The demo's own custom fields are not there: this org is the company's, not the co-op's.
        assert "LastNameKana__c" not in {f["name"] for f in sf.Contact.describe()["fields"]}
    finally:
        org.close()


def test_mistakes_in_a_definition_are_all_listed_with_where_they_are(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("""
custom_fields:
  Contact:
    Kana: {type: string, length: 80}
    Size__c: {type: strin}
  Contract: {Foo__c: {type: boolean}}
objects:
  Rental:
    prefix: "003"
    label: [貸出, Rental, 貸出, Rentals]
    fields: {Owner__c: {type: reference, ref: [Person__c]}}
""", encoding="utf-8")
    with pytest.raises(DefinitionError) as caught:
        load_definition(path)
    problems = caught.value.problems
    assert "custom_fields.Contact.Kana: a custom field's name must end in __c" in problems
    assert any(p.startswith("custom_fields.Contact.Size__c: type 'strin' is not one of") for p in problems)
    assert any(p.startswith("custom_fields.Contract: no such object") for p in problems)
    assert "objects.Rental: a custom object's name must end in __c" in problems
    assert "objects.Rental: prefix 003 is already Contact's" in problems
    assert "objects.Rental.Owner__c: ref names unknown object 'Person__c'" in problems
    assert str(path) in str(caught.value)


def test_the_cli_serves_seeds_and_refuses_by_the_devorg_definition_setting(make_app, tmp_path):
    path = tmp_path / "rentals.yaml"
    path.write_text(RENTALS, encoding="utf-8")
    app = make_app(devorg_dir=str(tmp_path / "org"), devorg_definition=str(path))
    result = app.test_cli_runner().invoke(args=["devorg", "seed", "--size", "20"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1])["Contact"] >= 12
    org = DevOrg(tmp_path / "org", definition=path)
    try:
        assert org.schema.get("Rental__c") is not None
        assert all("LastNameKana__c" not in c for c in org.records("Contact"))  # seeded what the org has
    finally:
        org.close()
    path.write_text("custom_fields: {Contact: {Kana: {type: string, length: 80}}}", encoding="utf-8")
    result = make_app(devorg_dir=str(tmp_path / "org2"), devorg_definition=str(path)).test_cli_runner().invoke(
        args=["devorg", "reset"])
    assert result.exit_code == 2
    assert "DEVORG_DEFINITION" in result.output and "Contact.Kana: a custom field's name must end in __c" \
        in result.output


def test_seeding_a_person_account_org_makes_members_person_accounts(make_app, tmp_path):
    from tests.fixtures.orgs import DEFINITIONS

    definition, _model = DEFINITIONS["person_accounts"]
    app = make_app(devorg_dir=str(tmp_path / "org"), devorg_definition=str(definition))
    result = app.test_cli_runner().invoke(args=["devorg", "seed", "--size", "40"])
    assert result.exit_code == 0, result.output
    org = DevOrg(tmp_path / "org", definition=definition)
    try:
        people = [a for a in org.records("Account") if a["IsPersonAccount"]]
        assert len(people) == 24  # 60 % of 40 are members
        member = people[0]
        contact = org.get("Contact", member["PersonContactId"])
        assert contact["IsPersonAccount"] and contact["AccountId"] == member["Id"]
        assert (contact["LastName"], contact["Email"]) == (member["LastName"], member["PersonEmail"])
        assert member["Name"] == f"{member['LastName']} {member['FirstName']}"
        # Campaign members and visits name a person account by its Contact, as in Salesforce.
        person_contacts = {a["PersonContactId"] for a in people}
        assert {m["ContactId"] for m in org.records("CampaignMember") if m["ContactId"]} <= person_contacts
    finally:
        org.close()
