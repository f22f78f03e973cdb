"""Describe of every standard object lists the standard fields Salesforce's Object Reference documents.

Expected types and lengths come from the Salesforce Field Reference / Object Reference pages cited in
docs/devorg.md ("Standard fields"); the test reads describe over HTTPS as any client would.
"""

from __future__ import annotations

import pytest

# object → {field: (type, length or (precision, scale) or None, createable, updateable, nillable)}
DOCUMENTED = {
    "Lead": {
        "Salutation": ("picklist", 40, True, True, True), "MiddleName": ("string", 40, True, True, True),
        "Suffix": ("string", 40, True, True, True), "Title": ("string", 128, True, True, True),
        "Website": ("url", 255, True, True, True), "NumberOfEmployees": ("int", None, True, True, True),
        "AnnualRevenue": ("currency", (18, 0), True, True, True), "Industry": ("picklist", 40, True, True, True),
        "Rating": ("picklist", 40, True, True, True), "LeadSource": ("picklist", 40, True, True, True),
        "Status": ("picklist", 40, True, True, False), "Fax": ("phone", 40, True, True, True),
        "DoNotCall": ("boolean", None, True, True, False), "ConvertedDate": ("date", None, False, False, True),
        "ConvertedAccountId": ("reference", 18, False, False, True),
        "ConvertedOpportunityId": ("reference", 18, False, False, True),
        "EmailBouncedReason": ("string", 255, True, True, True), "LastActivityDate": ("date", None, False, False, True),
        "Latitude": ("double", (18, 15), True, True, True), "Company": ("string", 255, True, True, False),
    },
    "Contact": {
        "Department": ("string", 80, True, True, True), "AssistantName": ("string", 40, True, True, True),
        "AssistantPhone": ("phone", 40, True, True, True), "ReportsToId": ("reference", 18, True, True, True),
        "Birthdate": ("date", None, True, True, True), "HomePhone": ("phone", 40, True, True, True),
        "OtherPhone": ("phone", 40, True, True, True), "OtherStreet": ("textarea", 255, True, True, True),
        "OtherPostalCode": ("string", 20, True, True, True), "Salutation": ("picklist", 40, True, True, True),
        "MiddleName": ("string", 40, True, True, True), "IsEmailBounced": ("boolean", None, False, False, False),
        "Description": ("textarea", 32000, True, True, True),
    },
    "Account": {
        "Type": ("picklist", 40, True, True, True), "Industry": ("picklist", 40, True, True, True),
        "AnnualRevenue": ("currency", (18, 0), True, True, True), "NumberOfEmployees": ("int", None, True, True, True),
        "Ownership": ("picklist", 40, True, True, True), "Sic": ("string", 20, True, True, True),
        "SicDesc": ("string", 80, True, True, True), "TickerSymbol": ("string", 20, True, True, True),
        "AccountNumber": ("string", 40, True, True, True), "Site": ("string", 80, True, True, True),
        "AccountSource": ("picklist", 40, True, True, True), "Rating": ("picklist", 40, True, True, True),
        "ParentId": ("reference", 18, True, True, True), "ShippingCity": ("string", 40, True, True, True),
        "Website": ("url", 255, True, True, True), "Fax": ("phone", 40, True, True, True),
    },
    "Task": {
        "CallType": ("picklist", 40, True, True, True), "CallDisposition": ("string", 255, True, True, True),
        "CallObject": ("string", 255, True, True, True), "IsHighPriority": ("boolean", None, False, False, False),
        "ReminderDateTime": ("datetime", None, True, True, True), "IsRecurrence": ("boolean", None, True, False, False),
        "AccountId": ("reference", 18, False, False, True), "TaskSubtype": ("picklist", 40, True, False, True),
        "CompletedDateTime": ("datetime", None, False, False, True),
    },
    "Event": {
        "ShowAs": ("picklist", 40, True, True, True), "IsPrivate": ("boolean", None, True, True, False),
        "EndDate": ("date", None, False, False, True), "IsReminderSet": ("boolean", None, True, True, False),
        "Location": ("string", 255, True, True, True), "DurationInMinutes": ("int", None, True, True, True),
    },
    "Campaign": {
        "BudgetedCost": ("currency", (18, 0), True, True, True), "ActualCost": ("currency", (18, 0), True, True, True),
        "ExpectedRevenue": ("currency", (18, 0), True, True, True),
        "ExpectedResponse": ("percent", (10, 2), True, True, True), "NumberSent": ("double", (18, 0), True, True, True),
        "NumberOfLeads": ("int", None, False, False, True), "NumberOfResponses": ("int", None, False, False, True),
        "AmountWonOpportunities": ("currency", (18, 0), False, False, True),
    },
    "CampaignMember": {
        "FirstRespondedDate": ("date", None, False, False, True),
        "CompanyOrAccount": ("string", 255, False, False, True),
        "Email": ("email", 80, False, False, True), "LeadOrContactId": ("reference", 18, False, False, True),
        "CampaignId": ("reference", 18, True, False, False), "Status": ("picklist", 40, True, True, True),
    },
    "Opportunity": {
        "Name": ("string", 120, True, True, False), "StageName": ("picklist", 255, True, True, False),
        "Amount": ("currency", (18, 2), True, True, True), "CloseDate": ("date", None, True, True, False),
        "Probability": ("percent", (3, 0), True, True, True), "IsClosed": ("boolean", None, False, False, False),
        "IsWon": ("boolean", None, False, False, False), "CampaignId": ("reference", 18, True, True, True),
        "AccountId": ("reference", 18, True, True, True), "ContactId": ("reference", 18, True, True, True),
        "LeadSource": ("picklist", 255, True, True, True), "OwnerId": ("reference", 18, True, True, False),
        "ForecastCategoryName": ("picklist", 255, True, True, True), "NextStep": ("string", 255, True, True, True),
        "ExpectedRevenue": ("currency", (18, 2), False, False, True), "Type": ("picklist", 255, True, True, True),
    },
    "OpportunityContactRole": {
        "OpportunityId": ("reference", 18, True, False, False), "ContactId": ("reference", 18, True, True, False),
        "Role": ("picklist", 255, True, True, True), "IsPrimary": ("boolean", None, True, True, False),
    },
    "User": {
        "CompanyName": ("string", 80, True, True, True), "Division": ("string", 80, True, True, True),
        "EmployeeNumber": ("string", 20, True, True, True), "ManagerId": ("reference", 18, True, True, True),
        "Extension": ("phone", 40, True, True, True), "EmailEncodingKey": ("picklist", 40, True, True, False),
        "LocaleSidKey": ("picklist", 40, True, True, False), "LastLoginDate": ("datetime", None, False, False, True),
        "AboutMe": ("textarea", 1000, True, True, True),
    },
}


@pytest.mark.parametrize("object_name", sorted(DOCUMENTED))
def test_describe_lists_the_documented_standard_fields_with_their_types(devorg, object_name):
    sf = devorg.salesforce()
    fields = {f["name"]: f for f in getattr(sf, object_name).describe()["fields"]}
    for name, (ftype, size, createable, updateable, nillable) in DOCUMENTED[object_name].items():
        assert name in fields, f"{object_name}.{name} is missing from describe"
        field = fields[name]
        got = (field["type"], field["createable"], field["updateable"], field["nillable"])
        assert got == (ftype, createable, updateable, nillable), f"{object_name}.{name}: {got}"
        if isinstance(size, tuple):
            assert (field["precision"], field["scale"]) == size, f"{object_name}.{name}"
        elif size is not None:
            assert field["length"] == size, f"{object_name}.{name}"
        assert field["custom"] is False


def test_documented_picklists_hold_salesforces_standard_values(devorg):
    sf = devorg.salesforce()
    lead = {f["name"]: f for f in sf.Lead.describe()["fields"]}
    account = {f["name"]: f for f in sf.Account.describe()["fields"]}
    assert [v["value"] for v in lead["Salutation"]["picklistValues"]] == ["Mr.", "Ms.", "Mrs.", "Dr.", "Prof."]
    assert [v["value"] for v in account["Ownership"]["picklistValues"]] == ["Public", "Private", "Subsidiary", "Other"]
    assert {"Banking", "Retail", "Manufacturing"} <= {v["value"] for v in account["Industry"]["picklistValues"]}
    assert lead["Industry"]["restrictedPicklist"] is False and lead["Status"]["restrictedPicklist"] is True


def test_new_standard_fields_are_written_and_read_back_with_salesforces_checks(devorg):
    sf = devorg.salesforce()
    lead = sf.Lead.create({"LastName": "山田", "Company": "生協", "NumberOfEmployees": 120,
                           "AnnualRevenue": 5000000, "Industry": "小売", "Salutation": "Mr.",
                           "Website": "https://coop.example.jp"})["id"]
    got = sf.Lead.get(lead)
    assert (got["NumberOfEmployees"], got["AnnualRevenue"], got["Industry"]) == (120, 5000000, "小売")
    from simple_salesforce.exceptions import SalesforceMalformedRequest

    with pytest.raises(SalesforceMalformedRequest) as too_long:
        sf.Account.create({"Name": "A", "Sic": "x" * 21})
    assert too_long.value.content[0]["errorCode"] == "STRING_TOO_LONG"
    with pytest.raises(SalesforceMalformedRequest) as read_only:
        sf.Lead.update(lead, {"ConvertedDate": "2026-11-20"})
    assert read_only.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
