"""Opportunities in the dev org behave as Salesforce's default sales process makes them.

A person (or tsunagi over REST) sets StageName; Salesforce derives IsClosed, IsWon, the forecast
category and, unless one is given, the stage's default Probability (Object Reference, Opportunity
and OpportunityStage; docs/devorg.md "Opportunities").
"""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

pytestmark = pytest.mark.db_independent


def _opportunity(sf, **fields):
    base = {"Name": "宅配加入 山田様", "StageName": "Prospecting", "CloseDate": "2026-12-20", "Amount": 12000}
    return sf.Opportunity.create({**base, **fields})["id"]


def test_stage_decides_closed_won_and_default_probability(devorg):
    sf = devorg.salesforce()
    opp = _opportunity(sf)
    got = sf.Opportunity.get(opp)
    assert (got["IsClosed"], got["IsWon"], got["Probability"], got["ForecastCategoryName"]) == \
        (False, False, 10, "Pipeline")
    assert got["ExpectedRevenue"] == 1200
    sf.Opportunity.update(opp, {"StageName": "Closed Won"})
    got = sf.Opportunity.get(opp)
    assert (got["IsClosed"], got["IsWon"], got["Probability"], got["ForecastCategoryName"]) == \
        (True, True, 100, "Closed")
    sf.Opportunity.update(opp, {"StageName": "Closed Lost"})
    got = sf.Opportunity.get(opp)
    assert (got["IsClosed"], got["IsWon"], got["Probability"]) == (True, False, 0)
    # A probability given with the stage is kept (Salesforce only defaults it).
    sf.Opportunity.update(opp, {"StageName": "Negotiation/Review", "Probability": 80})
    got = sf.Opportunity.get(opp)
    assert (got["IsClosed"], got["IsWon"], got["Probability"]) == (False, False, 80)


def test_is_won_and_is_closed_cannot_be_written(devorg):
    sf = devorg.salesforce()
    with pytest.raises(SalesforceMalformedRequest) as caught:
        _opportunity(sf, IsWon=True)
    assert caught.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


def test_missing_stage_or_close_date_is_refused(devorg):
    sf = devorg.salesforce()
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Opportunity.create({"Name": "x", "StageName": "Prospecting"})
    assert caught.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert "CloseDate" in caught.value.content[0]["fields"]


def test_contact_roles_link_contacts_and_query_by_stage(devorg):
    sf = devorg.salesforce()
    contact = sf.Contact.create({"LastName": "山田"})["id"]
    campaign = sf.Campaign.create({"Name": "秋の新規加入キャンペーン"})["id"]
    won = _opportunity(sf, StageName="Closed Won", ContactId=contact, CampaignId=campaign, LeadSource="Web")
    _opportunity(sf, Name="別件")
    sf.OpportunityContactRole.create({"OpportunityId": won, "ContactId": contact, "Role": "Decision Maker",
                                      "IsPrimary": True})
    rows = sf.query("SELECT Id, Amount, CampaignId FROM Opportunity WHERE IsWon = true")["records"]
    assert [(r["Id"], r["Amount"], r["CampaignId"]) for r in rows] == [(won, 12000, campaign)]
    roles = sf.query(f"SELECT ContactId, Role, IsPrimary FROM OpportunityContactRole "
                     f"WHERE OpportunityId = '{won}'")["records"]
    assert [(r["ContactId"], r["Role"], r["IsPrimary"]) for r in roles] == [(contact, "Decision Maker", True)]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.OpportunityContactRole.create({"OpportunityId": won})
    assert caught.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
