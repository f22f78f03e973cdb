"""Automations on opportunity changes: a deal won in Salesforce mails its contact once."""

from __future__ import annotations

from tests.automations.helpers import history, load, outbox, run, template, tokyo, upsert, writebacks

WON = """
automations:
  - key: won-welcome
    name: 受注のお礼
    trigger: {type: field_changed, object: Opportunity, field: IsWon, to: true}
    conditions:
      - {field: Amount, op: gte, value: 10000}
    actions:
      - {type: send_mail, template: welcome}
      - {type: create_task, subject: 受注お礼メール送信}
"""
NOON = tokyo(2026, 11, 24, 12, 0)


def _deal(app, **fields):
    contact = upsert(app, "Contact", LastName="山田", Email="yamada@example.jp", HasOptedOutOfEmail=False)
    base = {"Name": "山田様 宅配加入", "StageName": "Negotiation/Review", "IsWon": False, "IsClosed": False,
            "Amount": 120000, "ContactId": contact}
    return contact, upsert(app, "Opportunity", **{**base, **fields})


def test_an_opportunity_won_in_salesforce_mails_its_contact_once_and_logs_a_task_on_the_deal(app):
    template(app, "welcome")
    load(app, WON)
    contact, deal = _deal(app)
    run(app, NOON)
    assert outbox(app) == []  # open deal: nothing yet
    upsert(app, "Opportunity", Id=deal, StageName="Closed Won", IsWon=True, IsClosed=True)
    run(app, NOON)
    run(app, NOON)
    mails = outbox(app)
    assert [(m.to_address, m.template_key, m.person_id) for m in mails] == \
        [("yamada@example.jp", "welcome", contact)]
    tasks = writebacks(app, "Task")
    assert [(t.fields["WhoId"], t.fields.get("WhatId"), t.fields["Subject"]) for t in tasks] == \
        [(contact, deal, "受注お礼メール送信")]
    assert "IsWon" in history(app, "fired")[0].reason


def test_a_lost_deal_or_a_small_one_does_not_fire(app):
    template(app, "welcome")
    load(app, WON)
    _contact, lost = _deal(app)
    upsert(app, "Opportunity", Id=lost, StageName="Closed Lost", IsWon=False, IsClosed=True)
    _contact, small = _deal(app, Amount=5000)
    upsert(app, "Opportunity", Id=small, StageName="Closed Won", IsWon=True, IsClosed=True)
    run(app, NOON)
    assert outbox(app) == []
