"""Scoring can use opportunities: an 'opportunity_stage' activity for each person of an opportunity
(its ContactId and its contact roles) when it opens or changes stage, scored by behaviour rules."""

from __future__ import annotations

from sqlalchemy import select

from activity.models import Activity
from db import get_db
from scoring import jobs, service
from scoring.models import PersonScore
from sync.mirror import apply_records
from tests.scoring.people import add_records, contact_id

MODEL = """
behaviour:
  - {name: deal_open, label: 商談化, kind: opportunity_stage, status: [Prospecting], points: 10}
  - {name: deal_won, label: 受注, kind: opportunity_stage, status: [Closed Won], points: 40}
"""
OPPORTUNITY = "006000000000000001"


def test_an_opportunity_scores_its_contact_and_its_roles_once_per_stage(app):
    tx = get_db(app).transaction
    buyer, spouse = contact_id(1), contact_id(2)
    with tx() as s:
        service.import_model(s, MODEL)
        add_records(s, "Opportunity", {"Id": OPPORTUNITY, "Name": "宅配お試し", "StageName": "Prospecting",
                                       "ContactId": buyer, "IsWon": False})
        add_records(s, "OpportunityContactRole", {"Id": "00K000000000000001", "OpportunityId": OPPORTUNITY,
                                                  "ContactId": spouse},
                    {"Id": "00K000000000000002", "OpportunityId": OPPORTUNITY, "ContactId": buyer})
        jobs.process_changes(s)
    with tx() as s:
        while service.score_new_activity(s):
            pass
        assert {p.person_id: p.score for p in s.scalars(select(PersonScore))} == {buyer: 10, spouse: 10}
        apply_records(s, "Opportunity", [{"Id": OPPORTUNITY, "StageName": "Closed Won", "IsWon": True,
                                          "SystemModstamp": "2026-11-21T10:00:00.000+0000"}], "poll")
        jobs.process_changes(s)
    with tx() as s:
        while service.score_new_activity(s):
            pass
        assert {p.person_id: p.score for p in s.scalars(select(PersonScore))} == {buyer: 50, spouse: 50}
        won = s.scalars(select(Activity).where(Activity.person_id == buyer, Activity.kind == "opportunity_stage")
                        .order_by(Activity.id)).all()
    assert [(a.details["status"], a.details["won"]) for a in won] == [("Prospecting", False), ("Closed Won", True)]
