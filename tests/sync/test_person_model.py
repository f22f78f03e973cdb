"""PERSON_MODEL: parsed and checked at start-up, then against the org's describe by sync."""

from __future__ import annotations

import pytest

from config.person_model import parse_model
from config.settings import SettingsError, load_settings
from sync.cycle import run_cycle


def test_a_person_model_naming_fields_the_org_lacks_fails_the_sync_with_every_missing_field(make_app, devorg):
    model = parse_model('{"Lead": {}, "Contact": {"kana": ["Kana_Last__c", "Kana_First__c"], '
                        '"member_number": "Member_No__c"}}')
    app = make_app(**devorg.app_settings(), sync_objects=("Lead", "Contact"), person_model=model)
    result = run_cycle(app)
    assert result.outcome == "failed"
    assert result.errors["PERSON_MODEL"] == (
        "PERSON_MODEL names fields the Salesforce org lacks: Contact.Kana_Last__c, Contact.Kana_First__c, "
        "Contact.Member_No__c (create them in Salesforce, or set PERSON_MODEL to the fields the org has)")
    described = app.test_cli_runner().invoke(args=["sync", "describe"])
    assert described.exit_code == 1 and "Contact.Kana_Last__c" in described.output
    # The demo org has every field of the default model.
    assert run_cycle(make_app(**devorg.app_settings(), sync_objects=("Lead", "Contact"))).outcome == "ok"


UNUSABLE_MODELS = {  # PERSON_MODEL → what start-up says of it
    '{"Opportunity": {}}': "'Opportunity' cannot be a person object",
    '{"Contact": {"kana": ["Kana__c"]}}': "Contact.kana must name 2 fields",
    '{"Contact": {"email_field": "Email"}}': "Contact: unknown key(s) email_field",
    '{"Account": {"person_flag": ""}}': "Account.person_flag is required",
    '{"Lead": {"opted_out": "x; DROP"}}': "Lead.opted_out must be a Salesforce field name",
    "people.yaml": "file 'people.yaml' does not exist",
}


@pytest.mark.db_independent
@pytest.mark.parametrize(("raw", "message"), list(UNUSABLE_MODELS.items()))
def test_a_person_model_that_cannot_be_used_stops_start_up_naming_the_problem(tmp_path, raw, message):
    with pytest.raises(SettingsError) as caught:
        load_settings({"TSUNAGI_DEBUG": "1", "PERSON_MODEL": raw}, instance_path=tmp_path)
    assert str(caught.value).startswith("PERSON_MODEL=") and message in str(caught.value)


@pytest.mark.db_independent
def test_the_default_person_model_is_leads_and_contacts_with_the_member_number_setting(tmp_path):
    settings = load_settings({"TSUNAGI_DEBUG": "1", "FORMS_MEMBER_NUMBER_FIELD": "Member_No__c"},
                             instance_path=tmp_path)
    assert settings.person_model.names == ("Lead", "Contact")
    assert settings.person_model.get("Contact").member_number == "Member_No__c"
    assert settings.person_model.get("Lead").converted == "IsConverted"
