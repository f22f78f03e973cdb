"""Upsert Salesforce records into the mirror and derive change events, in the caller's transaction.

`apply_records` is the contract sync, webhooks and writeback call (docs/architecture.md). Rules:

- A record is compared field by field with the mirror. Only fields the record carries are
  compared, so a partial record (an Outbound Message, our own write) never clears other fields.
- A record whose SystemModstamp is earlier than the mirror's is stale (a late page, an out-of-
  order retry of an Outbound Message) and changes nothing — unless the mirror's stamp lies more
  than a day ahead of this host's clock: no org stamps a change there, so such a stamp is a
  leftover of a forged notification applied before notifications were read back from Salesforce
  (issue 13), and the record Salesforce returns replaces it.
- The same values twice produce no event: a change seen by an Outbound Message and then by the
  poll is one event, whichever arrives first.
- A field the mirror has never held (a new custom field after a describe refresh, or a field a
  partial record did not carry) is stored without an event: we never saw its old value.
- Audit fields that change with every edit (SystemModstamp, LastModifiedDate…) are stored but
  produce no events; IsDeleted produces `deleted` / `undeleted` events.

Everything is batched: one locking SELECT per 500 ids, one INSERT, one executemany UPDATE and
one INSERT … RETURNING of events per call.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from config.person_model import PersonModel
from db import table_of, utcnow
from sync import read
from sync.bulk import insert_events, insert_mirror_rows, update_mirror_rows
from sync.keys import key_fields, record_keys
from sync.models import SOURCES, ChangeEvent, MirrorRecord
from sync.values import flatten, parse_datetime

# Stored but never reported as changes: they change on every edit of the record.
SILENT_FIELDS = frozenset({
    "Id", "SystemModstamp", "LastModifiedDate", "LastModifiedById", "IsDeleted",
    "LastViewedDate", "LastReferencedDate",
})
# Stamp of a record first seen without one (our own write before the poll saw it): any real
# stamp from Salesforce is later, so the poll always completes such a record.
UNKNOWN_STAMP = datetime(1970, 1, 1, tzinfo=UTC)
# The org's clock is not ours, but not a day apart: a stored stamp further ahead was never the org's.
IMPLAUSIBLY_AHEAD = timedelta(days=1)
# Ids per IN (...) list: well under SQLite's and PostgreSQL's bind-parameter limits.
_CHUNK = 500
_KEYS = ("email_key", "phone_key", "name_key", "kana_key", "company_key", "member_key", "phone_rev_key",
         "email_local_rev_key")

_table = table_of(MirrorRecord)


class _Incoming:
    """One record of the batch, flattened, with its stamp and delete flag (None: not carried)."""

    __slots__ = ("deleted", "fields", "sf_id", "stamp")

    def __init__(self, record: dict[str, Any]) -> None:
        self.fields = flatten(record)
        sf_id = self.fields.get("Id")
        if not isinstance(sf_id, str) or len(sf_id) not in (15, 18):
            raise ValueError(f"record without a Salesforce Id: {sf_id!r}")
        self.sf_id = sf_id
        self.stamp = parse_datetime(self.fields.get("SystemModstamp"))
        deleted = self.fields.get("IsDeleted")
        self.deleted = None if deleted is None else bool(deleted)


def _latest_per_id(records: Iterable[dict[str, Any]]) -> dict[str, _Incoming]:
    """One entry per Id: the latest by SystemModstamp; same stamp → later fields merged in."""
    out: dict[str, _Incoming] = {}
    for record in records:
        item = _Incoming(record)
        seen = out.get(item.sf_id)
        if seen is None or (item.stamp or UNKNOWN_STAMP) > (seen.stamp or UNKNOWN_STAMP):
            out[item.sf_id] = item
        elif item.stamp == seen.stamp:
            seen.fields.update(item.fields)
            seen.deleted = item.deleted if item.deleted is not None else seen.deleted
    return out


class _Stored:
    """A mirror row as loaded for comparison."""

    __slots__ = ("deleted", "fields", "keys", "stamp")

    def __init__(self, fields: dict[str, Any], stamp: datetime, deleted: bool, keys: dict[str, str | None]):
        self.fields, self.stamp, self.deleted, self.keys = fields, stamp, deleted, keys


def _load(session: Session, ids: Sequence[str]) -> dict[str, _Stored]:
    """Mirror rows of `ids`, locked FOR UPDATE on PostgreSQL so concurrent writers serialize."""
    rows: dict[str, _Stored] = {}
    ordered = sorted(ids)  # one lock order for every writer: no deadlocks between batches
    key_columns = [_table.c[k] for k in _KEYS]
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start:start + _CHUNK]
        stmt = (select(_table.c.sf_id, _table.c.fields, _table.c.system_modstamp, _table.c.is_deleted, *key_columns)
                .where(_table.c.sf_id.in_(chunk)).order_by(_table.c.sf_id).with_for_update())
        for sf_id, fields, stamp, deleted, *keys in session.execute(stmt):
            rows[sf_id] = _Stored(fields or {}, stamp, deleted, dict(zip(_KEYS, keys, strict=True)))
    return rows


def _event(object_name: str, sf_id: str, kind: str, when: datetime, source: str, now: datetime,
           field: str | None = None, old: Any = None, new: Any = None) -> dict[str, Any]:
    return {"object_name": object_name, "record_id": sf_id, "kind": kind, "field": field,
            "old_value": old, "new_value": new, "occurred_at": when, "recorded_at": now, "source": source}


def _diff(object_name: str, item: _Incoming, stored: _Stored, source: str,
          now: datetime) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The merged fields (None when nothing changed) and the events of one known record."""
    old_fields, old_stamp, old_deleted = stored.fields, stored.stamp, stored.deleted
    when = item.stamp or now
    events: list[dict[str, Any]] = []
    merged = dict(old_fields)
    changed = False
    parents = {name.split(".", 1)[0] for name in old_fields if "." in name}
    for name, value in item.fields.items():
        if value is None and name in parents:
            # A cleared lookup ("Account": null) clears the parent fields we held for it.
            for held in [k for k in merged if k.startswith(name + ".")]:
                if merged[held] is not None:
                    events.append(_event(object_name, item.sf_id, "updated", when, source, now, held, merged[held]))
                    merged[held] = None
                    changed = True
        if name not in old_fields:
            merged[name] = value
            changed = True
            continue
        old = old_fields[name]
        if old == value:
            continue
        merged[name] = value
        changed = True
        if name not in SILENT_FIELDS:
            events.append(_event(object_name, item.sf_id, "updated", when, source, now, name, old, value))
    deleted = old_deleted if item.deleted is None else item.deleted
    if deleted != old_deleted:
        changed = True
        if deleted:
            events.append(_event(object_name, item.sf_id, "deleted", when, source, now))
        else:
            events.insert(0, _event(object_name, item.sf_id, "undeleted", when, source, now))
    return (merged if changed or (item.stamp and item.stamp > old_stamp) else None), events


def _keys_follow_model(object_name: str, fields: dict[str, Any], stored: dict[str, Any],
                       people: PersonModel) -> bool:
    """True when the stored member key is the one the person model gives (cheap: no phone parsing)."""
    from sync.keys import member_key

    obj = people.get(object_name)
    if obj is None or not obj.is_person(fields):
        return True
    return stored.get("member_key") == (member_key(fields.get(obj.member_number)) if obj.member_number else None)


def apply_records(session: Session, object_name: str, records: Iterable[dict[str, Any]],
                  source: str, people: PersonModel | None = None) -> list[ChangeEvent]:
    """Upsert full or partial Salesforce records into the mirror and return the change events.

    Records are dicts with Salesforce field names, `Id` and (unless unknown, e.g. right after
    our own write) `SystemModstamp`; `attributes` and nested parents as the REST API returns
    them are fine. Runs in the caller's transaction and does not commit. Idempotent.
    `people` is the person model the lookup keys follow (default: the running app's settings').
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}")
    incoming = _latest_per_id(records)
    if not incoming:
        return []
    now = utcnow()
    stored = _load(session, list(incoming))
    people = people or read.person_model()
    key_sources = {f for names in key_fields(object_name, people).values() for f in names}
    new_rows: list[dict[str, Any]] = []
    for sf_id, item in incoming.items():
        if sf_id in stored:
            continue
        deleted = bool(item.deleted)
        new_rows.append({
            "sf_id": sf_id, "object_name": object_name, "fields": item.fields,
            "system_modstamp": item.stamp or UNKNOWN_STAMP, "is_deleted": deleted,
            "first_seen_at": now, "last_seen_at": now, "last_source": source,
            **record_keys(object_name, item.fields, people),
        })
    inserted = insert_mirror_rows(session, new_rows)
    raced = [row["sf_id"] for row in new_rows if row["sf_id"] not in inserted]
    if raced:  # another transaction inserted them first: treat them as known records
        stored.update(_load(session, raced))
    events: list[dict[str, Any]] = [
        _event(object_name, row["sf_id"], "created", incoming[row["sf_id"]].stamp or now, source, now)
        for row in new_rows if row["sf_id"] in inserted and not row["is_deleted"]
    ]
    updates: list[dict[str, Any]] = []
    seen_only: list[str] = []
    for sf_id, item in incoming.items():
        if sf_id in inserted:
            continue
        old = stored[sf_id]
        if old.stamp > now + IMPLAUSIBLY_AHEAD and item.stamp is not None:
            old.stamp = item.stamp  # a stamp no org wrote: Salesforce's own record wins
        if item.stamp is not None and item.stamp < old.stamp:
            continue  # stale: the mirror already holds a newer version
        merged, record_events = _diff(object_name, item, old, source, now)
        events.extend(record_events)
        if merged is None:
            seen_only.append(sf_id)
            continue
        # Keys are recomputed only when a field feeding them changed (phone parsing is the slow part).
        same_keys = all(merged.get(f) == old.fields.get(f) for f in key_sources)
        # A person model configured anew (a member field, kana fields) changes the keys, not the fields.
        same_keys = same_keys and _keys_follow_model(object_name, merged, old.keys, people)
        updates.append({
            "sf_id": sf_id, "fields": merged, "system_modstamp": max(item.stamp or old.stamp, old.stamp),
            "is_deleted": old.deleted if item.deleted is None else item.deleted, "last_seen_at": now,
            "last_source": source, **(old.keys if same_keys else record_keys(object_name, merged, people)),
        })
    update_mirror_rows(session, updates)
    for start in range(0, len(seen_only), _CHUNK):
        session.execute(update(_table).where(_table.c.sf_id.in_(seen_only[start:start + _CHUNK]))
                        .values(last_seen_at=now))
    return insert_events(session, events)


def mark_deleted(session: Session, object_name: str, deleted: dict[str, datetime | None],
                 source: str = "poll") -> list[ChangeEvent]:
    """Mark mirrored records deleted (from getDeleted or id reconciliation) and return the events.

    `deleted` maps record ids to when they were deleted (None: unknown, now is used). Ids the
    mirror does not hold, or already holds as deleted, change nothing.
    """
    now = utcnow()
    records: list[dict[str, Any]] = [
        {"Id": sf_id, "IsDeleted": True, **({"SystemModstamp": when} if when else {})}
        for sf_id, when in deleted.items()
    ]
    stored = _load(session, list(deleted))
    known = [r for r in records if r["Id"] in stored and not stored[r["Id"]].deleted]
    for record in known:
        # A delete time earlier than the mirror's stamp (clock skew in the delete log) must not
        # make the delete look stale: the delete log is authoritative that the record is gone.
        when = parse_datetime(record.get("SystemModstamp")) or now
        record["SystemModstamp"] = max(when, stored[record["Id"]].stamp)
    return apply_records(session, object_name, known, source) if known else []


def mirrored_ids(session: Session, object_name: str, include_deleted: bool = False) -> set[str]:
    """Every id of `object_name` the mirror holds (for id reconciliation)."""
    stmt = select(_table.c.sf_id).where(_table.c.object_name == object_name)
    if not include_deleted:
        stmt = stmt.where(_table.c.is_deleted.is_(False))
    return set(session.scalars(stmt))


__all__ = ["SILENT_FIELDS", "UNKNOWN_STAMP", "apply_records", "mark_deleted", "mirrored_ids"]
