"""Worker and clock entry points of scoring (registered in scoring.init_app).

- work source `scoring.activity`: score new activity rows in batches.
- work source `scoring.writeback`: hand changed scores to the write-back queue, debounced: a
  person's score is written once per batch window however often it changed inside it.
- work source `scoring.changes`: CampaignMember status changes become `campaign_status`
  activity; Lead/Contact changes of fields the fit rules read trigger a rescore of that person.
- job `scoring.decay` (hourly, work/schedule.py): rescore people whose points aged past a step.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

import db
from activity.models import Activity
from activity.record import record_activity
from config import settings_of
from db import utcnow
from scoring import progress, service
from scoring.models import PersonScore
from sync import read
from sync.feed import EventCursor, committed_after
from writeback.queue import enqueue as enqueue_write

log = logging.getLogger(__name__)

WRITE_BATCH = 200  # one sObject Collections request holds at most 200 records
CHANGES_BATCH = 1000


def score_activity_source(_worker_id: str) -> int:
    """Work source: score one batch of unscored activity."""
    settings = settings_of()
    with db.transaction() as session:
        return service.score_new_activity(session, limit=settings.scoring_batch_size,
                                          page_views_per_window=settings.scoring_page_views_per_window,
                                          page_view_window_seconds=settings.scoring_page_view_window_seconds)


def flush_scores(session: Session, window_seconds: int, score_field: str, limit: int = WRITE_BATCH) -> int:
    """Queue `Score__c` updates for people whose first unsent change is older than the window."""
    now = utcnow()
    rows = list(session.scalars(
        select(PersonScore).where(PersonScore.pending_since <= now - timedelta(seconds=window_seconds))
        .order_by(PersonScore.pending_since).limit(limit).with_for_update(skip_locked=True)))
    for row in rows:
        if row.score != row.written_score:
            # Key per person and score version: a crashed flush re-run returns the same item.
            enqueue_write(session, key=f"scoring:score:{row.person_id}:v{row.version}",
                          object_name=row.object_name, operation="update", record_id=row.person_id,
                          fields={score_field: row.score}, origin="scoring", origin_ref=row.person_id)
        row.written_version = row.version
        row.written_score = row.score
        row.pending_since = None
    return len(rows)


def writeback_source(_worker_id: str) -> int:
    """Work source: flush one batch of changed scores to the write-back queue."""
    settings = settings_of()
    with db.transaction() as session:
        return flush_scores(session, settings.scoring_writeback_window_seconds, settings.scoring_score_field)


def _fit_fields(session: Session) -> set[str]:
    definition = service.active_definition(session)
    return {f for rule in definition.fit for f in rule.fields}


def _opportunity_people(session: Session, opportunity_id: str, fields: dict[str, Any]) -> list[str]:
    """The people of an opportunity: its ContactId and its contact roles' contacts (a Person
    Account's Contact counts as the Account), in id order."""
    contacts = {fields.get("ContactId")}
    roles = session.execute(read.live_ids("OpportunityContactRole").with_only_columns(read.field_text("ContactId"))
                            .where(read.field_text("OpportunityId") == opportunity_id))
    contacts |= {c for (c,) in roles}
    wanted = sorted(c for c in contacts if isinstance(c, str) and c)
    accounts = read.people_of_contacts(session, wanted)
    return sorted({accounts.get(c, c) for c in wanted})


def _record_opportunity_stage(session: Session, event: Any) -> None:
    """An opportunity created or moved to another stage: an 'opportunity_stage' activity for each of
    its people (details: status = StageName, won, opportunity_id), which behaviour rules can score."""
    opportunity = read.record(session, event.record_id)
    if opportunity is None or opportunity.is_deleted:
        return
    fields = opportunity.fields or {}
    stage = fields.get("StageName") if event.kind == "created" else event.new_value
    if not stage:
        return
    for person_id in _opportunity_people(session, event.record_id, fields):
        _stage_activity(session, person_id, event.record_id, stage, fields, event)


def _stage_activity(session: Session, person_id: str, opportunity_id: str, stage: str, fields: dict[str, Any],
                    event: Any) -> None:
    """Record the activity once per person, opportunity and stage (an opportunity and its contact
    role may both be new in one poll)."""
    seen = session.scalar(select(Activity.id).where(
        Activity.person_id == person_id, Activity.kind == "opportunity_stage",
        read.document_text(Activity.details, "opportunity_id") == opportunity_id,
        read.document_text(Activity.details, "status") == stage).limit(1))
    if seen is None:
        record_activity(session, "opportunity_stage", person_id=person_id, occurred_at=event.occurred_at,
                        details={"status": stage, "won": fields.get("IsWon") is True,
                                 "opportunity_id": opportunity_id, "change_event_id": event.id})


def _record_contact_role(session: Session, event: Any) -> None:
    """A contact role added to an opportunity: its person gets the opportunity's current stage."""
    role = read.record(session, event.record_id)
    fields = role.fields if role is not None else {}
    opportunity = read.record(session, fields.get("OpportunityId") or "")
    contact = fields.get("ContactId")
    if opportunity is None or opportunity.is_deleted or not contact or not opportunity.fields.get("StageName"):
        return
    person_id = read.people_of_contacts(session, [contact]).get(contact, contact)
    _stage_activity(session, person_id, opportunity.sf_id, opportunity.fields["StageName"], opportunity.fields,
                    event)


def process_changes(session: Session, limit: int = CHANGES_BATCH) -> int:
    """Read change events after our own cursor (automations own `processed_at`, so we keep ours).

    The cursor is gap-safe (sync.feed): an event committed late with a lower id is still read.
    """
    cursor = progress.cursor(session, progress.CHANGE_EVENTS, lock="wait")
    if cursor is None:
        raise LookupError("the change-event cursor row could not be locked")
    events = committed_after(session, EventCursor(cursor.txid, cursor.last_id), limit)
    if not events:
        return 0
    fit_fields = _fit_fields(session)
    rescore_ids: set[str] = set()
    for event in events:
        if event.object_name == "CampaignMember" and event.field == "Status" and event.new_value:
            member = read.record(session, event.record_id)
            fields: dict[str, Any] = member.fields if member is not None else {}
            person_id = fields.get("ContactId") or fields.get("LeadId")
            # A Person Account's member row names its hidden Contact: score the Account, the person.
            person_id = read.people_of_contacts(session, [person_id]).get(person_id, person_id) if person_id else None
            if person_id:
                record_activity(session, "campaign_status", person_id=person_id, occurred_at=event.occurred_at,
                                details={"status": event.new_value, "campaign_id": fields.get("CampaignId"),
                                         "change_event_id": event.id})
        elif event.object_name == "Opportunity" and (event.kind == "created" or event.field == "StageName"):
            _record_opportunity_stage(session, event)
        elif event.object_name == "OpportunityContactRole" and event.kind == "created":
            _record_contact_role(session, event)
        elif event.object_name in read.person_objects() and (event.kind != "updated" or event.field in fit_fields):
            rescore_ids.add(event.record_id)
    if rescore_ids:
        service.ensure_people(session, rescore_ids)
        service.rescore(session, sorted(rescore_ids), reason="Salesforce の項目変更 (属性スコア)")
    cursor.txid, cursor.last_id = events[-1].txid, events[-1].id
    return len(events)


def changes_source(_worker_id: str) -> int:
    """Work source: one batch of change events."""
    with db.transaction() as session:
        return process_changes(session)


def decay_job(_payload: dict[str, Any]) -> None:
    """Job `scoring.decay`: apply time decay to people whose points aged past a step."""
    with db.transaction() as session:
        changed = service.decay(session)
    log.info("scoring decay changed %d scores", changed)
