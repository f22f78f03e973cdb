"""How a sent mail is logged in Salesforce is the admin's choice: a Task per mail, one Task per
person and campaign, only the CampaignMember status, or nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

import db
from writeback.models import WritebackItem

CAMPAIGN = "701000000000001AAA"
MEMBER_CONTACT, NEW_LEAD, LOGGED, CHEAP = "003000000000001AAA", "00Q000000000002AAA", "003000000000003AAA", \
    "003000000000004AAA"


def test_each_logging_choice_puts_what_it_says_in_the_write_back_queue(mail_app, smtp_sink, add_template,
                                                                      enqueue, drain):
    from mail.jobs import log_tasks
    from sync.mirror import apply_records

    add_template()
    with db.get_db(mail_app).transaction() as session:
        apply_records(session, "CampaignMember", [{"Id": "00v000000000009AAA", "CampaignId": CAMPAIGN,
                                                   "ContactId": MEMBER_CONTACT, "Status": "Planned",
                                                   "SystemModstamp": datetime(2026, 1, 1, tzinfo=UTC).isoformat()}],
                      "poll")
    enqueue("every-mail", to="a@example.jp", person_id=LOGGED)  # the default: a Task per mail
    for n in (1, 2):  # two mails of one campaign to one person: one Task
        enqueue(f"campaign-task-{n}", to="b@example.jp", person_id=NEW_LEAD, salesforce_log="campaign_task",
                campaign_id=CAMPAIGN)
    enqueue("member-known", to="c@example.jp", person_id=MEMBER_CONTACT, salesforce_log="campaign_member",
            campaign_id=CAMPAIGN)
    enqueue("member-new", to="d@example.jp", person_id=CHEAP, salesforce_log="campaign_member", campaign_id=CAMPAIGN)
    enqueue("nothing", to="e@example.jp", person_id=CHEAP, salesforce_log="none")
    drain()
    with mail_app.app_context():
        log_tasks({})
    with db.get_db(mail_app).sessionmaker() as session:
        items = sorted(((i.object_name, i.operation, i.record_id, i.fields.get("WhoId") or i.fields.get("ContactId")
                         or i.fields.get("LeadId"), i.fields.get("Status"), i.fields.get("WhatId"))
                        for i in session.scalars(select(WritebackItem))), key=str)
    assert items == sorted([
        ("Task", "create", None, LOGGED, "Completed", None),
        ("Task", "create", None, NEW_LEAD, "Completed", CAMPAIGN),
        ("CampaignMember", "update", "00v000000000009AAA", None, "Sent", None),
        ("CampaignMember", "create", None, CHEAP, "Sent", None),
    ], key=str)
