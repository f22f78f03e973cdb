"""The default SYNC_OBJECTS mirror opportunities and their contact roles, stage changes included."""

from __future__ import annotations

from config import load_settings
from sync.cycle import run_cycle
from tests.sync.test_cycle import assert_mirror_equals_org, dump, events, ok

try:  # the conforming cycle reads a change once the org's clock has passed its minute
    from tests.sync.test_cycle import time_passes
except ImportError:  # the cycle before it reads changes at once
    def time_passes(app, devorg, minutes: int = 1) -> None:
        """Nothing to wait for."""


def test_default_objects_include_opportunities_and_contact_roles(tmp_path):
    objects = load_settings({"SECRET_KEY": "x"}, tmp_path).sync_objects
    assert objects[:8] == ("Lead", "Contact", "Account", "Task", "Event", "Campaign", "CampaignMember", "User")
    assert {"Opportunity", "OpportunityContactRole"} <= set(objects)


def test_a_deal_won_in_salesforce_reaches_the_mirror_with_its_derived_fields(make_app, devorg):
    app = make_app(**devorg.app_settings(), sync_page_size=200)  # the default SYNC_OBJECTS
    contact = devorg.insert("Contact", LastName="山田", Email="yamada@example.jp")
    campaign = devorg.insert("Campaign", Name="秋の新規加入キャンペーン")
    deal = devorg.insert("Opportunity", Name="山田様 宅配加入", StageName="Negotiation/Review", Amount=120000,
                         CloseDate="2026-12-20", ContactId=contact, CampaignId=campaign, LeadSource="Web")
    role = devorg.insert("OpportunityContactRole", OpportunityId=deal, ContactId=contact, IsPrimary=True,
                         Role="Decision Maker")
    ok(run_cycle(app))
    for name in ("Opportunity", "OpportunityContactRole"):
        assert_mirror_equals_org(app, devorg, name)
    assert dump(app, "OpportunityContactRole")[role]["OpportunityId"] == deal
    first = len(events(app))
    devorg.update("Opportunity", deal, StageName="Closed Won")
    time_passes(app, devorg)
    ok(run_cycle(app))
    changed = {(e[2], e[3], e[4]) for e in events(app)[first:] if e[1] == deal}
    assert {("StageName", "Negotiation/Review", "Closed Won"), ("IsWon", False, True),
            ("IsClosed", False, True), ("Probability", 90, 100)} <= changed
    assert_mirror_equals_org(app, devorg, "Opportunity")
