"""Periodic mail work: log sent mail as 'mail_sent' activity and in Salesforce as the sender chose."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import insert, or_, select, update

import db
from activity.models import Activity
from config import settings_of
from mail.compliance import person_object
from mail.models import OutboxMail
from mail.outbox import TEST_ORIGIN
from salesforce.dates import local_date
from sync import read
from work.running import should_stop
from writeback.queue import enqueue_many

BATCH = 1000
# The CampaignMember status a broadcast mail sets (a status every campaign has by default).
SENT_STATUS = "Sent"
TIME_BUDGET_SECONDS = 30.0


def _log_batch(timezone: str) -> int:
    now = db.utcnow()
    with db.transaction() as session:
        # The columns logging needs, not the entity: its merge context is the largest part of a row.
        o = OutboxMail
        rows = session.execute(
            select(o.id, o.person_id, o.sent_at, o.template_key, o.origin, o.origin_ref, o.unconfirmed,
                   o.salesforce_log, o.campaign_id, o.subject, o.to_address)
            .where(o.status == "sent", o.logged_at.is_(None))
            .order_by(o.id).limit(BATCH).with_for_update(skip_locked=True)
        ).all()
        if not rows:
            return 0
        marked = [r.id for r in rows]
        # A test send is marked logged and nothing more: no activity, nothing to Salesforce.
        rows = [r for r in rows if r.origin != TEST_ORIGIN]
        # A Person Account is named by its Contact (PersonContactId) in WhoId and CampaignMember.
        who = read.who_ids(session, [r.person_id for r in rows if r.person_id])
        members = _campaign_members(session, [r for r in rows if r.salesforce_log == "campaign_member"], who)
        # One multi-row insert each for the activities and the write-backs: per-row ORM adds and
        # writeback.queue.enqueue (a query, a savepoint and a flush each) made logging, not
        # sending, the slowest part of a broadcast.
        if rows:
            session.execute(insert(db.table_of(Activity)), [
                {"kind": "mail_sent", "person_id": row.person_id, "visitor_id": None,
                 "occurred_at": row.sent_at or now,
                 "details": {"mail_id": row.id, "template_key": row.template_key, "origin": row.origin,
                             "origin_ref": row.origin_ref, "unconfirmed": row.unconfirmed}} for row in rows])
        writes = [w for row in rows if person_object(row.person_id)
                  for w in [_salesforce_write(row, local_date(row.sent_at or now, timezone).isoformat(),
                                              members, who)] if w is not None]
        enqueue_many(session, list({w["key"]: w for w in writes}.values()))
        session.execute(update(OutboxMail).where(OutboxMail.id.in_(marked)).values(logged_at=now)
                        .execution_options(synchronize_session=False))
    return len(marked)


def _salesforce_write(row: Any, day: str, members: dict[tuple[str, str], str],
                      who: dict[str, str]) -> dict[str, Any] | None:
    """The write-back the mail's `salesforce_log` choice asks for (see mail.outbox.enqueue_mail), or None.

    `task`: one completed Task per mail. `campaign_task`: one Task per person and campaign, the
    first mail's (its write-back key is the pair, so later mails add nothing). `campaign_member`:
    the person's CampaignMember status 'Sent' (updated when mirrored, else created), once per pair.
    `none`: nothing goes to Salesforce; the 'mail_sent' activity is still recorded here.
    `who` maps Person Account ids to their Contact ids, which Salesforce wants in WhoId and ContactId.
    """
    choice, campaign = row.salesforce_log, row.campaign_id
    person = who.get(row.person_id or "", row.person_id or "")
    base = {"origin": "mail", "origin_ref": str(row.id)}
    if choice == "task" or (choice == "campaign_task" and not campaign):
        return {**base, "key": f"mail.task:{row.id}", "object_name": "Task", "operation": "create", "fields": {
            "WhoId": person, "Subject": f"メール: {row.subject or row.template_key}"[:255], "Status": "Completed",
            "ActivityDate": day, "Description": f"tsunagi から送信 ({row.template_key}) 宛先 {row.to_address}"[:32000],
        }}
    if choice == "campaign_task":
        return {**base, "key": f"mail.task:{campaign}:{person}", "object_name": "Task", "operation": "create",
                "fields": {"WhoId": person, "WhatId": campaign, "Status": "Completed", "ActivityDate": day,
                           "Subject": f"メール配信: {row.subject or row.template_key}"[:255],
                           "Description": f"tsunagi からキャンペーンのメールを送信 ({row.template_key})"[:32000]}}
    if choice == "campaign_member" and campaign:
        member = members.get((campaign, person))
        key = f"mail.member:{campaign}:{person}"
        if member:
            return {**base, "key": key, "object_name": "CampaignMember", "operation": "update",
                    "fields": {"Status": SENT_STATUS}, "record_id": member}
        id_field = "LeadId" if person_object(person) == "Lead" else "ContactId"
        return {**base, "key": key, "object_name": "CampaignMember", "operation": "create",
                "fields": {"CampaignId": campaign, id_field: person, "Status": SENT_STATUS}}
    return None


def _campaign_members(session: Any, rows: list[Any], who: dict[str, str]) -> dict[tuple[str, str], str]:
    """(campaign, person) → CampaignMember id, mirrored, for a batch's campaign_member mails (a query per campaign)."""
    wanted: dict[str, set[str]] = {}
    for row in rows:
        if row.campaign_id and row.person_id:
            wanted.setdefault(row.campaign_id, set()).add(who.get(row.person_id, row.person_id))
    found: dict[tuple[str, str], str] = {}
    for campaign, people in wanted.items():
        contact_id, lead_id = read.field_text("ContactId"), read.field_text("LeadId")
        for sf_id, contact, lead in session.execute(
                read.live_ids("CampaignMember").add_columns(contact_id, lead_id).where(
                    read.field_text("CampaignId") == campaign,
                    or_(contact_id.in_(people), lead_id.in_(people)))):
            found[(campaign, contact or lead)] = sf_id
    return found


def log_tasks(_payload: dict[str, Any]) -> None:
    """Job mail.log_tasks: record sent mails in batches until none are left or time is up."""
    timezone = settings_of().timezone
    started = time.monotonic()

    while _log_batch(timezone) == BATCH and time.monotonic() - started < TIME_BUDGET_SECONDS and not should_stop():
        pass
