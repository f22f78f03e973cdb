"""The write-back worker: claim due items, send them in batches, record what Salesforce said.

One pass (`process_due`, the "writeback" work source):
1. Claim up to WRITEBACK_BATCH_SIZE due items whose `depends_on` item is written (work.claiming;
   SKIP LOCKED on PostgreSQL, so any number of workers share the queue). `{"$ref": id}` values
   become the referenced item's Salesforce Id; `{"$ref": id, "as": "who"}` values the id that
   names that person in WhoId / CampaignMember.ContactId: for a record of a person object with a
   person contact (a Person Account) its PersonContactId, read back in one query per object after
   the claim (outside its transaction), else its Id.
2. Group by object and operation and send each group through sObject Collections, 200 records per
   API call. Creates follow writeback.policy so a lost answer never makes a second record.
   Before each call the lease of its items is renewed (and the uncertain flag of creates set),
   in a committed transaction: only items still ours are sent.
3. Record per item: written (result_id, written_at; the mirror shows it at once with source
   "writeback"); a transient failure (5xx, connection, UNABLE_TO_LOCK_ROW) → queued with back-off;
   LimitExceeded → everything not yet sent back to queued until the limit pause ends; a validation
   error → failed, with Salesforce's code and message, into the admin error queue.
A worker that dies anywhere leaves its items 'running' with a lease; when the lease expires
another worker takes them, and the uncertain flag makes it look before re-creating.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import or_, select, update
from sqlalchemy.orm import aliased

from config import settings_of
from config.person_model import PersonModel
from db import Database, get_db, utcnow
from salesforce import gateway_for
from salesforce.batch import COLLECTION_SIZE, RecordResult, chunks
from salesforce.errors import AuthError, LimitExceeded, SalesforceError, TransientError
from salesforce.gateway import SalesforceGateway
from work.claiming import claim_due, retry_delay_seconds
from writeback.models import WritebackItem, WriteOutcome
from writeback.policy import CreatePolicy, Matcher, Unverifiable, key_value
from writeback.queue import ref_target
from writeback.records import apply_outcomes

log = logging.getLogger(__name__)

# Per-record errors that say "try again", not "this record is wrong".
TRANSIENT_RECORD_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "REQUEST_RUNNING_TOO_LONG", "SERVER_UNAVAILABLE"})


@dataclass
class Pending:
    """A claimed item, detached from the session, with what will be sent for it."""

    id: int
    key: str
    object_name: str
    operation: str
    record_id: str | None
    attempts: int
    uncertain_since: datetime | None
    body: dict[str, Any] = field(default_factory=dict)
    send_as: tuple[str, str | None] = ("create", None)  # (operation, external id field)


def _ready() -> Any:
    """Items without a dependency, or whose dependency is already written."""
    parent = aliased(WritebackItem)
    return or_(WritebackItem.depends_on_id.is_(None),
               WritebackItem.depends_on_id.in_(select(parent.id).where(parent.status == "written")))


def _later(attempts: int, error: str, code: str = "TRANSIENT", uncertain: bool | None = None) -> WriteOutcome:
    return WriteOutcome("queued", error_code=code, error_message=error[:4000],
                        due_at=utcnow() + timedelta(seconds=retry_delay_seconds(attempts)), uncertain=uncertain)


@dataclass(frozen=True)
class ContactOf:
    """In a claimed body: the who-id of a written record, read back from Salesforce before sending."""

    object_name: str
    field_name: str  # e.g. PersonContactId
    record_id: str


def _resolve_refs(fields: dict[str, Any], written: dict[int, tuple[str | None, str]],
                  model: PersonModel) -> dict[str, Any] | None:
    """`fields` with every reference replaced by that item's Salesforce Id, or a `ContactOf` for the
    who-id of a Person Account (None if a referenced item is not written)."""
    resolved = {}
    for name, value in fields.items():
        target = ref_target(value)
        if target is not None:
            result_id, object_name = written.get(target[0], (None, ""))
            if not result_id:
                return None
            value = result_id
            person = model.get(object_name) if target[1] == "who" else None
            if person is not None and person.person_contact:
                # Salesforce names a Person Account in WhoId / ContactId by its Contact, which the
                # create's answer does not carry.
                value = ContactOf(object_name, person.person_contact, result_id)
        resolved[name] = value
    return resolved


def _read_contacts(gateway: SalesforceGateway, pending: list[Pending]) -> tuple[list[Pending], dict[int, WriteOutcome]]:
    """Replace each `ContactOf` in the bodies by the contact id Salesforce keeps on that record (one
    query per object); items whose lookup fails or finds nothing wait and are tried again."""
    wanted: dict[tuple[str, str], set[str]] = defaultdict(set)
    for p in pending:
        for value in p.body.values():
            if isinstance(value, ContactOf):
                wanted[(value.object_name, value.field_name)].add(value.record_id)
    if not wanted:
        return pending, {}
    found: dict[str, str] = {}
    failure: SalesforceError | None = None
    try:
        for (object_name, field_name), ids in wanted.items():
            # Names from the validated person model; the ids go through format_soql (query_ids).
            for row in gateway.query_ids(f"SELECT Id, {field_name} FROM {object_name}", sorted(ids)):
                # A business Account has none: its own Id is sent, and Salesforce's refusal says why.
                found[row["Id"]] = row.get(field_name) or row["Id"]
    except SalesforceError as exc:
        failure = exc
    ready: list[Pending] = []
    outcomes: dict[int, WriteOutcome] = {}
    for p in pending:
        contacts = {name: v for name, v in p.body.items() if isinstance(v, ContactOf)}
        if not contacts:
            ready.append(p)
        elif isinstance(failure, LimitExceeded):
            outcomes[p.id] = WriteOutcome("queued", error_code="REQUEST_LIMIT_EXCEEDED", error_message=failure.message,
                                          due_at=failure.resume_at)
        elif failure is not None:
            outcomes[p.id] = _later(p.attempts, f"reading the person's contact failed: {failure.message}")
        elif any(v.record_id not in found for v in contacts.values()):
            outcomes[p.id] = _later(p.attempts, "the referenced record was not found", "WAITING_FOR_REF")
        else:
            p.body.update({name: found[v.record_id] for name, v in contacts.items()})
            ready.append(p)
    return ready, outcomes


def _claim(database: Database, worker_id: str, limit: int, lease: int,
           policy: CreatePolicy, model: PersonModel) -> tuple[list[Pending], dict[int, WriteOutcome]]:
    pending: list[Pending] = []
    outcomes: dict[int, WriteOutcome] = {}
    with database.transaction() as session:
        items = claim_due(session, WritebackItem, worker_id, limit, lease, extra_where=[_ready()])
        refs = {target[0] for item in items for v in item.fields.values() if (target := ref_target(v))}
        written = {item_id: (result_id, object_name) for item_id, result_id, object_name in session.execute(
            select(WritebackItem.id, WritebackItem.result_id, WritebackItem.object_name).where(
                WritebackItem.id.in_(refs), WritebackItem.status == "written"))} if refs else {}
        for item in items:
            body = _resolve_refs(dict(item.fields), written, model)
            if body is None:
                outcomes[item.id] = _later(item.attempts, "a referenced item is not written yet", "WAITING_FOR_REF")
                continue
            p = Pending(item.id, item.idempotency_key, item.object_name, item.operation, item.record_id,
                        item.attempts, item.uncertain_since)
            if item.operation == "create":
                ext = policy.external_id_for(item.object_name)
                if ext is not None:
                    body.setdefault(ext, key_value(item.idempotency_key))
                    p.send_as = ("upsert", ext)
                else:
                    marker = policy.marker_for(item.object_name)
                    if marker is not None:
                        body[marker] = key_value(item.idempotency_key)
                    p.send_as = ("create", marker)
            elif item.operation == "update":
                body = {**body, "Id": item.record_id}
                p.send_as = ("update", None)
            elif item.operation == "upsert":
                p.send_as = ("upsert", item.external_id_field)
            else:
                p.send_as = ("delete", None)
            p.body = body
            pending.append(p)
    return pending, outcomes


def _hold(database: Database, worker_id: str, lease: int, items: list[Pending], uncertain: bool) -> list[Pending]:
    """Renew the lease of `items` (and set their uncertain flag) in a committed transaction; keep those still ours."""
    now = utcnow()
    values: dict[str, Any] = {"locked_until": now + timedelta(seconds=lease)}
    with database.transaction() as session:
        ids = {row for row in session.scalars(
            update(WritebackItem)
            .where(WritebackItem.id.in_([p.id for p in items]), WritebackItem.locked_by == worker_id,
                   WritebackItem.status == "running")
            .values(**values)
            .returning(WritebackItem.id))}
        if uncertain and ids:
            session.execute(update(WritebackItem)
                            .where(WritebackItem.id.in_(ids), WritebackItem.uncertain_since.is_(None))
                            .values(uncertain_since=now))
    return [p for p in items if p.id in ids]


def _result_outcome(p: Pending, result: RecordResult) -> WriteOutcome:
    if result.success:
        record_id = result.id or p.record_id
        mirror = {"Id": p.record_id, "IsDeleted": True} if p.operation == "delete" else {**p.body, "Id": record_id}
        return WriteOutcome("written", result_id=record_id, uncertain=False, mirror=mirror)
    code = result.error_code or "UNKNOWN"
    if p.operation == "delete" and code == "ENTITY_IS_DELETED":
        return WriteOutcome("written", result_id=p.record_id, uncertain=False,
                            mirror={"Id": p.record_id, "IsDeleted": True})
    if code in TRANSIENT_RECORD_CODES:
        return _later(p.attempts, result.error_message, code, uncertain=False)
    if p.operation == "create" and p.send_as[0] == "upsert" and code == "DUPLICATE_VALUE" and p.attempts < 3:
        # Two sends of one create racing (a retry while the first was still running): the next
        # upsert finds the record the other one made.
        return _later(p.attempts, result.error_message, code, uncertain=False)
    return WriteOutcome("failed", error_code=code, error_message=result.error_message, uncertain=False)


def _send(gateway: SalesforceGateway, object_name: str, send_as: tuple[str, str | None],
          chunk: list[Pending]) -> list[RecordResult]:
    operation, ext = send_as
    bodies = [p.body for p in chunk]
    if operation == "upsert":
        return gateway.upsert_many(object_name, ext or "", bodies)
    if operation == "update":
        return gateway.update_many(object_name, bodies)
    if operation == "delete":
        return gateway.delete_many([p.record_id or "" for p in chunk])
    return gateway.create_many(object_name, bodies)


def _reconcile(database: Database, matcher: Matcher, p: Pending) -> WriteOutcome | None:
    """For an uncertain create: the record it already made (written), or None to send it."""
    assert p.uncertain_since is not None
    try:
        found = matcher.candidates(p.object_name, p.body, p.send_as[1], p.uncertain_since)
    except Unverifiable as exc:
        return WriteOutcome("failed", error_code="UNCERTAIN_CREATE",
                            error_message=f"{exc}; check Salesforce, then resend or discard", uncertain=False)
    if not found:
        return None
    with database.transaction() as session:
        taken = set(session.scalars(select(WritebackItem.result_id).where(
            WritebackItem.result_id.in_(found), WritebackItem.id != p.id)))
    mine = [record_id for record_id in found if record_id not in taken]
    if not mine:
        return None
    log.info("write-back item %s: found the record %s its lost create made", p.id, mine[0])
    return WriteOutcome("written", result_id=mine[0], uncertain=False, mirror={**p.body, "Id": mine[0]})


def _reconcile_safely(database: Database, matcher: Matcher, p: Pending) -> WriteOutcome | None:
    """`_reconcile`, with a failed look-up deciding the item's outcome (LimitExceeded propagates)."""
    try:
        return _reconcile(database, matcher, p)
    except (TransientError, AuthError) as exc:
        return _later(p.attempts, f"looking for an earlier create failed: {exc.message}", "TRANSIENT")
    except LimitExceeded:
        raise
    except SalesforceError as exc:
        return WriteOutcome("failed", error_code=exc.error_code or "UNCERTAIN_CREATE",
                            error_message=f"looking for an earlier create failed: {exc.message}")


def send_pending(gateway: SalesforceGateway, database: Database, worker_id: str, lease: int,
                 pending: list[Pending]) -> dict[int, WriteOutcome]:
    """Send claimed items group by group, 200 per call; one WriteOutcome per item."""
    outcomes: dict[int, WriteOutcome] = {}
    groups: dict[tuple[str, tuple[str, str | None]], list[Pending]] = defaultdict(list)
    for p in pending:
        groups[(p.object_name, p.send_as)].append(p)
    matcher = Matcher(gateway, database)
    try:
        for (object_name, send_as), members in groups.items():
            is_create = send_as[0] == "create"
            for chunk in chunks(members, COLLECTION_SIZE):
                chunk = list(chunk)
                if is_create:
                    for p in [p for p in chunk if p.uncertain_since is not None]:
                        found = _reconcile_safely(database, matcher, p)
                        if found is not None:
                            outcomes[p.id] = found
                            chunk.remove(p)
                chunk = _hold(database, worker_id, lease, chunk, uncertain=is_create) if chunk else []
                if not chunk:
                    continue
                try:
                    results = _send(gateway, object_name, send_as, chunk)
                    if len(results) != len(chunk):
                        raise TransientError(f"Salesforce answered {len(results)} results for {len(chunk)} records",
                                             maybe_committed=True)
                except TransientError as exc:
                    keep = bool(is_create and exc.maybe_committed)
                    for p in chunk:
                        outcomes[p.id] = _later(p.attempts, exc.message, exc.error_code or "TRANSIENT", keep)
                    continue
                except AuthError as exc:
                    for p in chunk:
                        outcomes[p.id] = _later(p.attempts, exc.message, "AUTH", uncertain=False)
                    continue
                except SalesforceError as exc:
                    if isinstance(exc, LimitExceeded):
                        raise
                    for p in chunk:  # the whole request was refused as given: a person must look
                        outcomes[p.id] = WriteOutcome("failed", error_code=exc.error_code or type(exc).__name__,
                                                      error_message=exc.message, uncertain=False)
                    continue
                for p, result in zip(chunk, results, strict=True):
                    outcomes[p.id] = _result_outcome(p, result)
    except LimitExceeded as exc:
        # Nothing more is sent this pass; whatever has no outcome waits for the pause to end.
        for p in pending:
            if p.id not in outcomes:
                outcomes[p.id] = WriteOutcome("queued", error_code="REQUEST_LIMIT_EXCEEDED", error_message=exc.message,
                                              due_at=exc.resume_at)
    return outcomes


def process_due(app: Flask, worker_id: str, limit: int | None = None) -> int:
    """Claim, send and record one batch of due write-back items; returns how many were claimed."""
    settings = settings_of(app)
    try:
        gateway = gateway_for(app)
    except AuthError as exc:
        log.debug("write-back idle: %s", exc)
        return 0
    if gateway.paused_until is not None and gateway.paused_until > utcnow():
        return 0  # the org's API limit is spent; claiming would only bounce items back
    database = get_db(app)
    lease = settings.worker_lease_seconds
    pending, outcomes = _claim(database, worker_id, limit or settings.writeback_batch_size, lease,
                               CreatePolicy.from_settings(settings), settings.person_model)
    claimed = len(pending) + len(outcomes)
    if not claimed:
        return 0
    pending, waiting = _read_contacts(gateway, pending)
    outcomes.update(waiting)
    if pending:
        outcomes.update(send_pending(gateway, database, worker_id, lease, pending))
    apply_outcomes(database, worker_id, outcomes, {p.id: p.object_name for p in pending})
    return claimed
