"""One poll cycle: bring every mirrored object up to date with the fewest API calls possible.

1. **Probe** — one `composite` call holds, per loaded object, `sobjects/X/updated` from its
   cursor and `sobjects/X/deleted` from its delete-log watermark (sObject resources, not query
   operations, so 8 objects fit one call of 16 subrequests). An object whose first load is not
   complete gets only an `updated` over the last minute, for its `latestDateCovered`. Windows end
   at the org's current whole minute, from the `Date` header of its answers (gateway.org_now),
   never from the host's clock. An idle cycle therefore costs exactly one API call.
2. **Queries** only for objects that changed (`updated` listed ids, or could not tell) or are
   loading: `queryAll … WHERE (SystemModstamp, Id) > cursor ORDER BY SystemModstamp, Id` — the
   first pages in composite calls of at most 5 queries (Salesforce refuses more), then
   `nextRecordsUrl` page by page until `done`. A page may be shorter than the batch size asked
   for: only `done` ends a query. A lost query locator re-queries from the committed cursor.
3. After every page its upserts and the object's cursor commit together. The cursor is the last
   (SystemModstamp, Id) read but never past the **safe point**: the `latestDateCovered` the probe
   returned, which Salesforce keeps below transactions still open. A record committed later with
   an earlier stamp therefore has a stamp at or after the cursor and is read by a later cycle.
   (Only when `updated` fails does the safe point fall back to the org's time minus
   SYNC_OVERLAP_SECONDS.) Re-reading is harmless: upserts are idempotent.
4. The delete log marks listed ids deleted and moves to its `latestDateCovered`; when it no longer
   reaches back (`earliestDateAvailable` later than its start) or fails, ids are reconciled.
5. A first load whose first page says more than SYNC_BULK_THRESHOLD records (`totalSize`) loads
   through ONE Bulk API 2.0 queryAll job instead of REST pages (sync.bulkload turns its CSV back
   into REST's values), applied 2,000 at a time; the cursor is set only when the whole job is in —
   the job's rows are unordered — to the latest (SystemModstamp, Id) read, capped at the safe
   point. An org without Bulk API 2.0, or a failed job, falls back to REST pages.

Any Salesforce failure stops the cycle cleanly after the last committed page; the next cycle
resumes there. The quota guard stops the cycle when the org's daily usage reaches
SYNC_QUOTA_SHARE. Cycles never overlap: a database lease "sync.cycle" is held and renewed.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from flask import Flask

from config import settings_of
from db import get_db, utcnow
from salesforce import describe as describes
from salesforce import gateway_for
from salesforce.batch import subresponse_message
from salesforce.calls import counter_for
from salesforce.errors import BulkJobFailed, BulkNotSupported, SalesforceError, ValidationError
from sync import bulkload, describe
from sync.mirror import apply_records, mark_deleted, mirrored_ids
from sync.models import INITIAL_LOAD, SyncObject, SyncRun
from sync.values import parse_datetime
from work import lease

log = logging.getLogger(__name__)

LEASE_NAME = "sync.cycle"
MINUTE = timedelta(minutes=1)  # updated/deleted windows work in whole minutes
QUOTA_RECHECK = timedelta(minutes=15)  # a stopped cycle asks for the usage at most this often


class QuotaReached(Exception):
    """The org's daily API usage reached SYNC_QUOTA_SHARE: stop until it recovers."""


class LeaseLost(Exception):
    """Another cycle holds the sync lease."""


@dataclass
class CycleResult:
    """What a cycle did: outcome ok|failed|quota|busy, calls used, records read per object."""

    outcome: str = "ok"
    api_calls: int = 0
    records: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


@dataclass
class Plan:
    """What the probe said about one object: whether to query it, its safe point, its delete log."""

    query: bool
    safe_point: datetime | None  # latestDateCovered of `updated`; None when it could not be read
    delete_log: dict[str, Any] | None = None


def _floor_second(value: datetime) -> datetime:
    # SOQL datetime literals have whole seconds, and so do Salesforce's SystemModstamps.
    return value.replace(microsecond=0)


def _floor_minute(value: datetime) -> datetime:
    return value.replace(second=0, microsecond=0)


def page_soql(gateway: Any, object_name: str, fields: list[str], cursor: tuple[datetime | None, str | None],
              limit: int | None = None, since: datetime | None = None) -> str:
    """SOQL of the records after `cursor` in (SystemModstamp, Id) order (all of them without `limit`).

    A cursor never set reads everything, or only from `since` on (a windowed first load).
    """
    stamp, last_id = cursor
    where = ""
    if stamp is None and since is not None:
        where = since_soql(gateway, since)
    elif stamp is not None and not last_id:
        # A cursor moved to the safe point has no Id ('' is not a valid Id literal in SOQL).
        where = gateway.soql(" WHERE SystemModstamp >= {t}", t=stamp)
    elif stamp is not None:
        where = gateway.soql(" WHERE (SystemModstamp > {t} OR (SystemModstamp = {t} AND Id > {i}))",
                             t=stamp, i=last_id or "")
    tail = f" LIMIT {int(limit)}" if limit else ""
    return f"SELECT {', '.join(fields)} FROM {object_name}{where} ORDER BY SystemModstamp, Id{tail}"


# Objects whose first load reads only SYNC_SINCE days back: activities pile up for years, and an
# org's whole Task history is rarely worth its API calls and storage. Later changes to older
# records still come: they get a new SystemModstamp, inside the poll window.
WINDOWED_OBJECTS = ("Task", "Event")


def since_soql(gateway: Any, since: datetime) -> str:
    """` WHERE SystemModstamp >= since` (SystemModstamp is indexed on every object)."""
    return gateway.soql(" WHERE SystemModstamp >= {t}", t=_floor_second(since))


def first_load_since(name: str, cursor: tuple[datetime | None, str | None], org_now: datetime,
                     days: int) -> datetime | None:
    """Where the first load of `name` starts (org time): None for everything or when already loaded."""
    if not days or name not in WINDOWED_OBJECTS or cursor[0] is not None:
        return None
    return _floor_second(org_now - timedelta(days=days))


def next_cursor(stored: tuple[datetime | None, str | None], last: tuple[datetime, str] | None,
                ceiling: datetime | None, done: bool) -> tuple[datetime | None, str | None]:
    """The cursor to keep after a page: the last record read, but never past `ceiling` (the safe point).

    When the object is done (everything committed up to the safe point was read), the cursor may
    move up to the ceiling even without records; it never moves backwards. Without a ceiling it
    stays where it is.
    """
    if ceiling is None:
        return stored
    candidate: tuple[datetime, str] | None = last
    if done:
        candidate = (ceiling, "")
    if candidate is None:
        return stored
    capped = min(candidate, (ceiling, ""))
    if stored[0] is not None and capped < (stored[0], stored[1] or ""):
        return stored
    return capped


class Cycle:
    """One cycle over `objects` for `app`; `run()` does it and returns a CycleResult."""

    def __init__(self, app: Flask, gateway: Any, objects: list[str], full: bool = False) -> None:
        self.app = app
        self.gateway = gateway
        self.objects = objects
        self.full = full
        self.settings = settings_of(app)
        self.database = get_db(app)
        self.holder = f"cycle:{uuid.uuid4().hex[:12]}"
        self.lease_seconds = max(120, 2 * self.settings.sync_interval_seconds)
        self.counter = counter_for(app, gateway)
        self.result = CycleResult()
        self.page_size = getattr(self.settings, "sync_page_size", 2000)
        self.bulk_threshold = self.settings.sync_bulk_threshold

    # --- lease and quota ------------------------------------------------------------------------
    def _hold_lease(self) -> None:
        with self.database.transaction() as session:
            if not lease.acquire(session, LEASE_NAME, self.holder, self.lease_seconds):
                raise LeaseLost("another sync cycle is running")

    def _over_quota(self) -> bool:
        used, limit = self.gateway.usage.api_used, self.gateway.usage.api_max
        return bool(used is not None and limit and used / limit >= self.settings.sync_quota_share)

    def _check_quota(self, recheck: bool = False) -> None:
        usage = self.gateway.usage
        if self._over_quota() and recheck and (usage.reported_at is None
                                               or utcnow() - usage.reported_at >= QUOTA_RECHECK):
            # The daily limit is a rolling 24 hours, and a stopped cycle makes no calls that would
            # report the usage falling again: ask once (one call), or sync would stay stopped.
            self.gateway.limits()
        if self._over_quota():
            used, limit = usage.api_used, usage.api_max
            raise QuotaReached(f"API usage {used}/{limit} reached SYNC_QUOTA_SHARE {self.settings.sync_quota_share}")

    # --- the cycle ------------------------------------------------------------------------------
    def run(self) -> CycleResult:
        """Run the cycle; every failure is recorded, none escapes (except programming errors)."""
        calls_before = self.gateway.usage.calls
        try:
            self._hold_lease()
        except LeaseLost:
            self.result.outcome = "busy"
            return self.result
        with self.database.transaction() as session:
            run = SyncRun(started_at=utcnow(), outcome="running", api_calls=0, records=0)
            session.add(run)
            session.flush()
            run_id = run.id
        error = None
        try:
            self._check_quota(recheck=True)
            self._run_objects()
        except QuotaReached as exc:
            self.result.outcome, error = "quota", str(exc)
        except (SalesforceError, LeaseLost) as exc:
            self.result.outcome, error = "failed", f"{type(exc).__name__}: {exc}"
            log.warning("sync cycle stopped: %s", error)
        finally:
            self.result.api_calls = self.gateway.usage.calls - calls_before
            with self.database.transaction() as session:
                if self.result.outcome == "ok" and self.result.errors:
                    self.result.outcome = "failed"
                    error = "; ".join(f"{k}: {v}" for k, v in self.result.errors.items())
                run = session.get_one(SyncRun, run_id)
                run.finished_at = utcnow()
                run.outcome = self.result.outcome
                run.api_calls = self.result.api_calls
                run.records = sum(self.result.records.values())
                run.error = error[:4000] if error else None
                self.counter.flush(session)
                lease.release(session, LEASE_NAME, self.holder)
        return self.result

    def _run_objects(self) -> None:
        with self.database.transaction() as session:
            stale = list(self.objects) if self.full else describes.stale(session, self.objects)
        if stale:
            with self.database.transaction() as session:
                self.result.errors.update(describes.refresh(session, self.gateway, stale))
            self._check_quota()
        with self.database.transaction() as session:
            types = describe.field_types(session, self.objects)
            states = {n: _snapshot(describe.state(session, n), types[n]) for n in self.objects}
        lacking = describe.person_model_gaps(self.settings, {n: s["field_types"] for n, s in states.items()})
        if lacking:
            self.result.errors["PERSON_MODEL"] = lacking
        ready = [n for n in self.objects if states[n]["field_types"] and n not in self.result.errors]
        org_now = self.gateway.org_now()  # the org's clock, never the host's: windows follow its stamps
        for name, snap in states.items():
            snap["since"] = first_load_since(name, snap["cursor"], org_now, self.settings.sync_since_days)
        plans = self._probe(ready, states, org_now)
        # Used only when `updated` could not be read: the org's own time (its Date header) minus the overlap.
        fallback = _floor_second(self.gateway.org_now() - timedelta(seconds=self.settings.sync_overlap_seconds))
        first_pages = self._first_pages([n for n in ready if plans[n].query], states)
        for name in ready:
            try:
                self._sync_object(name, states[name], plans[name], first_pages.get(name), fallback)
            except ValidationError as exc:
                # A field deleted in Salesforce (INVALID_FIELD) or similar: re-describe next cycle.
                self._fail_object(name, exc, redescribe=True)
            except SalesforceError as exc:
                self._fail_object(name, exc)
                raise

    def _probe(self, names: list[str], states: dict[str, dict[str, Any]], org_now: datetime) -> dict[str, Plan]:
        """One composite call of `updated` and `deleted` per object (sObject resources: no query budget)."""
        end = _floor_minute(org_now)
        subrequests: list[dict[str, Any]] = []
        windows: dict[str, str] = {}
        for name in names:
            snap = states[name]
            loading = snap["deletes_from"] is None or snap["cursor"][0] is None
            start = end - MINUTE if loading else _floor_minute(snap["cursor"][0])
            if start < end:
                windows[name] = "loading" if loading else "loaded"
                subrequests.append({"method": "GET", "referenceId": f"u_{name}",
                                    "url": f"sobjects/{name}/updated/?start={_q(start)}&end={_q(end)}"})
            if not loading and _floor_minute(snap["deletes_from"]) < end:
                subrequests.append({"method": "GET", "referenceId": f"d_{name}",
                                    "url": f"sobjects/{name}/deleted/?start={_q(snap['deletes_from'])}&end={_q(end)}"})
        answers = dict(zip([s["referenceId"] for s in subrequests],
                           self.gateway.composite(subrequests) if subrequests else [], strict=True))
        plans = {}
        for name in names:
            updated = answers.get(f"u_{name}")
            body = updated.get("body") if updated and updated.get("httpStatusCode") == 200 else None
            safe = parse_datetime(body.get("latestDateCovered")) if isinstance(body, dict) else None
            if name not in windows:
                # Less than a minute since the cursor: `updated` cannot tell yet, the next cycle will.
                plans[name] = Plan(query=False, safe_point=None, delete_log=answers.get(f"d_{name}"))
                continue
            changed = windows[name] == "loading" or safe is None or (isinstance(body, dict) and bool(body.get("ids")))
            plans[name] = Plan(query=changed, safe_point=safe, delete_log=answers.get(f"d_{name}"))
        return plans

    def _first_pages(self, names: list[str], states: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """First query page of every object to read, in composite calls of ≤ 5 queries (the gateway cuts)."""
        subrequests = []
        for name in names:
            fields = describe.select_list(name, states[name]["field_types"])
            soql = page_soql(self.gateway, name, fields, states[name]["cursor"], since=states[name]["since"])
            subrequests.append({"method": "GET", "url": f"queryAll/?q={quote(soql)}", "referenceId": f"q_{name}",
                                "httpHeaders": {"Sforce-Query-Options": f"batchSize={self.page_size}"}})
        if not subrequests:
            return {}
        return dict(zip(names, self.gateway.composite(subrequests), strict=True))

    def _sync_object(self, name: str, snap: dict[str, Any], plan: Plan, first: dict[str, Any] | None,
                     fallback: datetime) -> None:
        ceiling = plan.safe_point if plan.safe_point is not None else (fallback if plan.query else None)
        # Until one load has read everything (the delete log starts then), records are history.
        loading = snap["deletes_from"] is None
        source = INITIAL_LOAD if loading else "poll"
        read = 0
        if first is not None:
            if first.get("httpStatusCode") != 200:
                raise ValidationError(subresponse_message(first), status=first.get("httpStatusCode"),
                                      errors=first.get("body") if isinstance(first.get("body"), list) else None)
            page = first["body"]
            bulk = None
            if (snap["cursor"][0] is None and not page.get("done", True)
                    and 0 < self.bulk_threshold < int(page.get("totalSize") or 0)):
                bulk = self._bulk_load(name, snap, ceiling, source)
            read = bulk if bulk is not None else self._read_pages(name, snap, page, ceiling, source)
        elif ceiling is not None:
            # Nothing changed up to the safe point: the cursor moves up to it.
            self._commit_page(name, [], snap["cursor"], ceiling, True, source)
        self.result.records[name] = read
        if plan.delete_log is not None and not loading:
            self._apply_delete_log(name, snap, plan.delete_log, ceiling)
        with self.database.transaction() as session:
            row = describe.state(session, name)
            row.last_cycle_at = row.last_success_at = utcnow()
            row.last_changed = read
            row.last_error = None
            row.consecutive_failures = 0
            if loading and first is not None and ceiling is not None:
                # The first load read the recycle bin itself; the delete log starts at its safe point.
                row.deletes_covered_until = ceiling

    def _read_pages(self, name: str, snap: dict[str, Any], page: dict[str, Any], ceiling: datetime | None,
                    source: str) -> int:
        """Pages of one query from its first page on, each committed with the cursor; records read.

        Only `done` ends the query: a page may hold fewer records than asked for and still be
        followed by more. A query locator that expired meanwhile is replaced by a new query from
        the cursor just committed.
        """
        cursor = snap["cursor"]
        read = 0
        last_read: tuple[datetime, str] | None = None
        while True:
            records = page.get("records", [])
            read += len(records)
            done = bool(page.get("done", True)) or not page.get("nextRecordsUrl")
            cursor = self._commit_page(name, records, cursor, ceiling, done, source)
            if records:
                last_read = cursor_after(records)
            if done:
                return read
            self._hold_lease()
            self._check_quota()
            try:
                page = self.gateway.query_page(page["nextRecordsUrl"], batch_size=self.page_size)
            except ValidationError as exc:
                if exc.error_code != "INVALID_QUERY_LOCATOR":
                    raise
                fields = describe.select_list(name, snap["field_types"])
                # Go on after the last record read, which may lie past the committed cursor (held at
                # the safe point): re-reading from the cursor could repeat the same pages forever
                # when the locator keeps expiring. The committed cursor still stays at the safe
                # point, so the next cycle reads late commits below those records.
                resume = cursor
                if last_read is not None and (cursor[0] is None or last_read > (cursor[0], cursor[1] or "")):
                    resume = last_read
                page = self.gateway.query_page(page_soql(self.gateway, name, fields, resume, since=snap["since"]),
                                               batch_size=self.page_size, include_deleted=True)

    def _bulk_load(self, name: str, snap: dict[str, Any], ceiling: datetime | None, source: str) -> int | None:
        """Load a never-loaded object through one Bulk API 2.0 queryAll job; None: use REST instead."""
        types = snap["field_types"]
        soql = f"SELECT {', '.join(describe.select_list(name, types))} FROM {name}"
        if snap["since"] is not None:
            soql += since_soql(self.gateway, snap["since"])

        def keep_going(_job: dict[str, Any]) -> None:
            self._hold_lease()
            self._check_quota()

        read, batch = 0, []
        latest: tuple[datetime, str] | None = None
        try:
            for row in self.gateway.bulk_query(soql, include_deleted=True, on_wait=keep_going):
                batch.append(bulkload.rest_record(name, types, row))
                if len(batch) == bulkload.BATCH_SIZE:
                    latest = self._commit_bulk_batch(name, batch, latest, ceiling, source, last=False)
                    read, batch = read + len(batch), []
                    keep_going({})
        except (BulkNotSupported, BulkJobFailed, ValidationError) as exc:
            log.warning("sync %s: no bulk load (%s: %s); loading through REST pages", name, type(exc).__name__, exc)
            return None
        self._commit_bulk_batch(name, batch, latest, ceiling, source, last=True)
        log.info("sync %s: first load of %d records through one Bulk API 2.0 job", name, read + len(batch))
        return read + len(batch)

    def _commit_bulk_batch(self, name: str, records: list[dict[str, Any]], latest: tuple[datetime, str] | None,
                           ceiling: datetime | None, source: str, last: bool) -> tuple[datetime, str] | None:
        """Apply one batch of a bulk load; the last one also sets the cursor. Returns the latest key seen."""
        for record in records:
            stamp = parse_datetime(record.get("SystemModstamp"))
            if stamp is not None and (latest is None or (stamp, record["Id"]) > latest):
                latest = (stamp, record["Id"])
        with self.database.transaction() as session:
            if records:
                apply_records(session, name, records, source, self.settings.person_model)
            if last:
                row = describe.state(session, name)
                row.cursor_stamp, row.cursor_id = next_cursor((row.cursor_stamp, row.cursor_id), latest, ceiling,
                                                              done=False)
            self.counter.flush(session)
        return latest

    def _commit_page(self, name: str, records: list[dict[str, Any]], cursor: tuple[Any, Any],
                     ceiling: datetime | None, done: bool, source: str) -> tuple[Any, Any]:
        with self.database.transaction() as session:
            if records:
                apply_records(session, name, records, source, self.settings.person_model)
            row = describe.state(session, name)
            stored = (row.cursor_stamp, row.cursor_id)
            last = cursor_after(records) if records else None
            row.cursor_stamp, row.cursor_id = next_cursor(stored, last, ceiling, done)
            self.counter.flush(session)
            kept = (row.cursor_stamp, row.cursor_id)
        return kept

    def _apply_delete_log(self, name: str, snap: dict[str, Any], answer: dict[str, Any],
                          ceiling: datetime | None) -> None:
        start = snap["deletes_from"]
        body = answer.get("body") if answer.get("httpStatusCode") == 200 else None
        earliest = parse_datetime(body.get("earliestDateAvailable")) if isinstance(body, dict) else None
        # At or after the start: stamps are whole seconds, so a purge in the window's first second
        # (the same stamp as its start) may have removed a delete made in that second.
        if body is None or (earliest is not None and earliest >= start):
            self._reconcile_ids(name)
            covered = ceiling or start
        else:
            deleted = {d["id"]: parse_datetime(d.get("deletedDate")) for d in body.get("deletedRecords", [])}
            with self.database.transaction() as session:
                mark_deleted(session, name, deleted)
            covered = parse_datetime(body.get("latestDateCovered")) or start
        with self.database.transaction() as session:
            describe.state(session, name).deletes_covered_until = max(covered, start)

    def _reconcile_ids(self, name: str) -> None:
        """The delete log no longer reaches back: every mirrored id the org lacks is deleted."""
        self._check_quota()
        org_ids = {r["Id"] for r in self.gateway.query(f"SELECT Id FROM {name}", batch_size=self.page_size)}
        with self.database.transaction() as session:
            gone = mirrored_ids(session, name) - org_ids
            mark_deleted(session, name, dict.fromkeys(gone))
        log.info("sync %s: delete log too short, reconciled ids (%d gone)", name, len(gone))

    def _fail_object(self, name: str, exc: SalesforceError, redescribe: bool = False) -> None:
        self.result.errors[name] = f"{type(exc).__name__}: {exc}"[:2000]
        with self.database.transaction() as session:
            row = describe.state(session, name)
            row.last_cycle_at = utcnow()
            row.last_error = self.result.errors[name]
            row.consecutive_failures += 1
            if redescribe:
                describes.mark_stale(session, name)


def cursor_after(records: list[dict[str, Any]]) -> tuple[datetime, str]:
    """(SystemModstamp, Id) of the last record of a page."""
    last = records[-1]
    stamp = parse_datetime(last.get("SystemModstamp"))
    if stamp is None:
        raise ValueError(f"record {last.get('Id')} has no SystemModstamp")
    return stamp, last["Id"]


def _snapshot(row: SyncObject, field_types: dict[str, str]) -> dict[str, Any]:
    return {"cursor": (row.cursor_stamp, row.cursor_id), "field_types": field_types,
            "deletes_from": row.deletes_covered_until}


def _q(value: datetime) -> str:
    """A datetime as the updated/deleted resources take it, URL-encoded (whole seconds, UTC)."""
    return quote(_floor_second(value).strftime("%Y-%m-%dT%H:%M:%S+00:00"))


def run_cycle(app: Flask, objects: list[str] | None = None, full: bool = False) -> CycleResult:
    """Run one cycle over `objects` (default SYNC_OBJECTS) with the app's Salesforce gateway."""
    names = list(objects or settings_of(app).sync_objects)
    return Cycle(app, gateway_for(app), names, full).run()
