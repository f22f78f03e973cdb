"""One poll cycle: bring every mirrored object up to date with the fewest API calls possible.

1. One `composite` call (≤ 25 subrequests) holds, per object, the first page of records after
   its cursor (queryAll, so deletes and undeletes arrive) and a read of its delete log. An idle
   cycle therefore costs exactly one API call.
2. Only objects whose first page was full page on: keyset queries
   `(SystemModstamp, Id) > cursor ORDER BY SystemModstamp, Id LIMIT 2000`, one call per 2,000
   records (2,000 is the REST query batch maximum). Keyset pages survive a restart, unlike
   nextRecordsUrl, and records sharing one SystemModstamp across a page boundary are not lost.
3. After every page the upserts and the cursor commit together. The cursor never moves past
   now − SYNC_OVERLAP_SECONDS: each cycle re-reads that window and so catches records committed
   with an earlier stamp; re-reading is harmless because upserts are idempotent.
4. A delete log that no longer reaches back to our last read (`earliestDateAvailable` later
   than our start) is replaced by id reconciliation: ids the org no longer has are deleted.
5. An object never loaded before also gets a `SELECT COUNT() FROM X` (queryAll) in the probe, in
   places the call has free (counts go before delete logs, which can wait a cycle). More than
   SYNC_BULK_THRESHOLD records (and a full first page) load through ONE Bulk API 2.0 queryAll
   job instead of REST pages (sync.bulkload turns its CSV back into REST's values), applied 2,000
   at a time; the cursor is set only when the whole job is in — the job's rows are unordered, so
   a cursor moved part way could skip records — to the latest (SystemModstamp, Id) read, capped
   at the ceiling: the next REST cycle re-reads what changed meanwhile. An org without Bulk API
   2.0, or a failed job, falls back to REST pages for that object.

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

from db import get_db, utcnow
from salesforce.errors import BulkJobFailed, BulkNotSupported, SalesforceError, ValidationError
from sync import bulkload, describe
from sync.mirror import apply_records, mark_deleted, mirrored_ids
from sync.models import INITIAL_LOAD, SyncObject, SyncRun
from sync.usage import counter_for
from sync.values import parse_datetime
from work import lease

log = logging.getLogger(__name__)

LEASE_NAME = "sync.cycle"
PROBE_LIMIT = 500  # first page per object inside the composite probe
COMPOSITE_SIZE = 25  # subrequests per composite call (Salesforce's maximum)
MIN_DELETE_WINDOW = timedelta(minutes=1)  # getDeleted works in whole minutes
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


def _floor_second(value: datetime) -> datetime:
    # SOQL datetime literals have whole seconds, and so do Salesforce's SystemModstamps.
    return value.replace(microsecond=0)


def page_soql(gateway: Any, object_name: str, fields: list[str], cursor: tuple[datetime | None, str | None],
              limit: int) -> str:
    """SOQL of the page after `cursor` in (SystemModstamp, Id) order."""
    stamp, last_id = cursor
    where = ""
    if stamp is not None and not last_id:
        # A cursor moved to the ceiling has no Id ('' is not a valid Id literal in SOQL).
        where = gateway.soql(" WHERE SystemModstamp >= {t}", t=stamp)
    elif stamp is not None:
        where = gateway.soql(" WHERE (SystemModstamp > {t} OR (SystemModstamp = {t} AND Id > {i}))",
                             t=stamp, i=last_id or "")
    return f"SELECT {', '.join(fields)} FROM {object_name}{where} ORDER BY SystemModstamp, Id LIMIT {int(limit)}"


def next_cursor(stored: tuple[datetime | None, str | None], last: tuple[datetime, str] | None,
                ceiling: datetime, done: bool) -> tuple[datetime | None, str | None]:
    """The cursor to keep after a page: the last record read, but never past `ceiling`.

    When the object is done (everything up to now was read), the cursor may move up to the
    ceiling even without records; it never moves backwards.
    """
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
        self.settings = app.config["TSUNAGI"]
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
                run = session.get(SyncRun, run_id)
                run.finished_at = utcnow()
                run.outcome = self.result.outcome
                run.api_calls = self.result.api_calls
                run.records = sum(self.result.records.values())
                run.error = error[:4000] if error else None
                self.counter.flush(session)
                lease.release(session, LEASE_NAME, self.holder)
        return self.result

    def _run_objects(self) -> None:
        now = utcnow()
        ceiling = _floor_second(now - timedelta(seconds=self.settings.sync_overlap_seconds))
        with self.database.transaction() as session:
            rows = {name: describe.state(session, name) for name in self.objects}
            stale = [n for n, row in rows.items() if describe.needs_describe(row, self.full)]
        if stale:
            with self.database.transaction() as session:
                self.result.errors.update(describe.refresh(session, self.gateway, stale))
            self._check_quota()
        with self.database.transaction() as session:
            states = {n: _snapshot(describe.state(session, n)) for n in self.objects}
        ready = [n for n in self.objects if states[n]["field_types"] and n not in self.result.errors]
        first_pages, counts, delete_logs = self._probe(ready, states, now)
        for name in ready:
            try:
                self._sync_object(name, states[name], first_pages[name], delete_logs.get(name), now, ceiling,
                                  counts.get(name))
            except ValidationError as exc:
                # A field deleted in Salesforce (INVALID_FIELD) or similar: re-describe next cycle.
                self._fail_object(name, exc, redescribe=True)
            except SalesforceError as exc:
                self._fail_object(name, exc)
                raise

    def _probe(self, names: list[str], states: dict[str, dict[str, Any]],
               now: datetime) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """The composite call: first page of each object, then as many counts and delete logs as fit."""
        subrequests = []
        for name in names:
            fields = describe.select_list(name, states[name]["field_types"])
            soql = page_soql(self.gateway, name, fields, states[name]["cursor"], min(PROBE_LIMIT, self.page_size))
            subrequests.append({"method": "GET", "url": f"queryAll/?q={quote(soql)}", "referenceId": f"q_{name}"})
        # Counts only for objects never loaded, and only in free places: they must not cost a call.
        unloaded = [n for n in names if states[n]["cursor"][0] is None] if self.bulk_threshold > 0 else []
        room = -len(subrequests) % COMPOSITE_SIZE  # free places left in the last composite call
        counted = unloaded[:room]
        for name in counted:
            subrequests.append({"method": "GET", "referenceId": f"c_{name}",
                                "url": f"queryAll/?q={quote(f'SELECT COUNT() FROM {name}')}"})
        due = sorted((n for n in names if states[n]["deletes_from"] is not None
                      and now - states[n]["deletes_from"] >= MIN_DELETE_WINDOW),
                     key=lambda n: states[n]["deletes_from"])
        room = -len(subrequests) % COMPOSITE_SIZE  # free places left in the last composite call
        logs = due[:room]  # the delete logs that fit the same call; the others wait a cycle
        for name in logs:
            start = _soql_time(states[name]["deletes_from"])
            subrequests.append({"method": "GET", "referenceId": f"d_{name}",
                                "url": f"sobjects/{name}/deleted/?start={quote(start)}&end={quote(_soql_time(now))}"})
        answers = self.gateway.composite(subrequests) if subrequests else []
        pages = dict(zip(names, answers[:len(names)], strict=True))
        count_answers = answers[len(names):len(names) + len(counted)]
        counts = {name: _total_size(answer) for name, answer in zip(counted, count_answers, strict=True)}
        return pages, counts, dict(zip(logs, answers[len(names) + len(counted):], strict=True))

    def _sync_object(self, name: str, snap: dict[str, Any], probe: dict[str, Any], delete_log: Any,
                     now: datetime, ceiling: datetime, count: int | None = None) -> None:
        if probe.get("httpStatusCode") != 200:
            raise ValidationError(describe._message(probe), status=probe.get("httpStatusCode"),
                                  errors=probe.get("body") if isinstance(probe.get("body"), list) else None)
        cursor = snap["cursor"]
        first_load = cursor[0] is None
        # Until one load has read everything (the delete log starts then), records are history.
        source = INITIAL_LOAD if snap["deletes_from"] is None else "poll"
        read = None
        full_page = len(probe["body"].get("records", [])) >= min(PROBE_LIMIT, self.page_size)
        if first_load and full_page and count is not None and 0 < self.bulk_threshold < count:
            read = self._bulk_load(name, snap, ceiling, source)
        if read is None:
            read = self._read_pages(name, snap, probe["body"], ceiling, source)
        self.result.records[name] = read
        if delete_log is not None:
            self._apply_delete_log(name, snap, delete_log, now)
        with self.database.transaction() as session:
            row = describe.state(session, name)
            row.last_cycle_at = row.last_success_at = utcnow()
            row.last_changed = read
            row.last_error = None
            row.consecutive_failures = 0
            if first_load or row.deletes_covered_until is None:
                # The first load read the recycle bin itself; the delete log starts now.
                row.deletes_covered_until = _floor_second(now)

    def _read_pages(self, name: str, snap: dict[str, Any], page: dict[str, Any], ceiling: datetime,
                    source: str) -> int:
        """Keyset REST pages from the probe's first page on, each committed with the cursor; records read."""
        fields = describe.select_list(name, snap["field_types"])
        cursor = snap["cursor"]
        limit = min(PROBE_LIMIT, self.page_size)
        read = 0
        while True:
            records = page.get("records", [])
            read += len(records)
            done = len(records) < limit
            cursor = self._commit_page(name, records, cursor, ceiling, done, source)
            if done:
                return read
            self._hold_lease()
            self._check_quota()
            limit = self.page_size
            page = self.gateway.query_page(page_soql(self.gateway, name, fields, cursor_after(records), limit),
                                           include_deleted=True)

    def _bulk_load(self, name: str, snap: dict[str, Any], ceiling: datetime, source: str) -> int | None:
        """Load a never-loaded object through one Bulk API 2.0 queryAll job; None: use REST instead."""
        types = snap["field_types"]
        soql = f"SELECT {', '.join(describe.select_list(name, types))} FROM {name}"

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
                           ceiling: datetime, source: str, last: bool) -> tuple[datetime, str] | None:
        """Apply one batch of a bulk load; the last one also sets the cursor. Returns the latest key seen."""
        for record in records:
            stamp = parse_datetime(record.get("SystemModstamp"))
            if stamp is not None and (latest is None or (stamp, record["Id"]) > latest):
                latest = (stamp, record["Id"])
        with self.database.transaction() as session:
            if records:
                apply_records(session, name, records, source)
            if last:
                row = describe.state(session, name)
                row.cursor_stamp, row.cursor_id = next_cursor((row.cursor_stamp, row.cursor_id), latest, ceiling,
                                                              done=False)
            self.counter.flush(session)
        return latest

    def _commit_page(self, name: str, records: list[dict[str, Any]], cursor: tuple[Any, Any],
                     ceiling: datetime, done: bool, source: str) -> tuple[Any, Any]:
        with self.database.transaction() as session:
            if records:
                apply_records(session, name, records, source)
            row = describe.state(session, name)
            stored = (row.cursor_stamp, row.cursor_id)
            last = cursor_after(records) if records else None
            row.cursor_stamp, row.cursor_id = next_cursor(stored, last, ceiling, done)
            self.counter.flush(session)
        return last if last is not None else cursor

    def _apply_delete_log(self, name: str, snap: dict[str, Any], answer: dict[str, Any], now: datetime) -> None:
        start = snap["deletes_from"]
        body = answer.get("body") if answer.get("httpStatusCode") == 200 else None
        earliest = parse_datetime(body.get("earliestDateAvailable")) if isinstance(body, dict) else None
        if body is None or (earliest is not None and earliest > start):
            self._reconcile_ids(name)
            covered = _floor_second(now)
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
        org_ids = {r["Id"] for r in self.gateway.query(f"SELECT Id FROM {name}")}
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
                row.described_at = None


def cursor_after(records: list[dict[str, Any]]) -> tuple[datetime, str]:
    """(SystemModstamp, Id) of the last record of a page."""
    last = records[-1]
    stamp = parse_datetime(last.get("SystemModstamp"))
    if stamp is None:
        raise ValueError(f"record {last.get('Id')} has no SystemModstamp")
    return stamp, last["Id"]


def _total_size(answer: dict[str, Any]) -> int | None:
    """totalSize of a COUNT() subresponse, None when it failed."""
    body = answer.get("body")
    if answer.get("httpStatusCode") != 200 or not isinstance(body, dict):
        return None
    size = body.get("totalSize")
    return size if isinstance(size, int) else None


def _snapshot(row: SyncObject) -> dict[str, Any]:
    return {"cursor": (row.cursor_stamp, row.cursor_id), "field_types": dict(row.field_types or {}),
            "deletes_from": row.deletes_covered_until}


def _soql_time(value: datetime) -> str:
    return _floor_second(value).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def run_cycle(app: Flask, objects: list[str] | None = None, full: bool = False) -> CycleResult:
    """Run one cycle over `objects` (default SYNC_OBJECTS) with the app's Salesforce gateway."""
    from salesforce import gateway_for

    names = list(objects or app.config["TSUNAGI"].sync_objects)
    return Cycle(app, gateway_for(app), names, full).run()
