"""Bulk API 2.0 query jobs of the dev org (`/services/data/vXX.X/jobs/query`), as Salesforce documents them.

    POST   jobs/query                 {operation: query|queryAll, query, contentType?, columnDelimiter?,
                                       lineEnding?} → job info, state UploadComplete
    GET    jobs/query                 every job: {done, records: [job info…], nextRecordsUrl: null}
    GET    jobs/query/{id}            job info: UploadComplete → InProgress → JobComplete (or Failed, Aborted)
    PATCH  jobs/query/{id}            {state: Aborted} → job info
    DELETE jobs/query/{id}            204
    GET    jobs/query/{id}/results    ?maxRecords=N&locator=L → text/csv; headers Sforce-Locator (the
                                       next locator, or "null" at the end) and Sforce-NumberOfRecords

The query is evaluated when the job is created (the snapshot the results show). A job completes
`delay_seconds` after its creation (0: at once). What Bulk API 2.0 refuses — COUNT(), OFFSET, and
(by the SOQL parser already) GROUP BY, TYPEOF and nested queries — is a 400 as Salesforce gives it.
`enabled = False` makes the org one without Bulk API 2.0 (404 NOT_FOUND); `fail_with = "message"`
makes every new job end Failed with that errorMessage.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from devorg import ids, soql
from devorg.errors import ApiError
from devorg.schema import format_datetime, to_json

if TYPE_CHECKING:
    from devorg.rest import Call, RestApi

JOB_PREFIX = "750"
FIRST_VERSION = 47.0  # Bulk API 2.0 query jobs exist from API 47.0 on
DEFAULT_MAX_RECORDS = 10_000  # results per set when the client names no maxRecords
_KEPT_JOBS = 20  # finished snapshots held in memory (oldest dropped first)
DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}


@dataclass
class RawBody:
    """A response body that is not JSON (the CSV results of a query job)."""

    text: str
    content_type: str


@dataclass
class QueryJob:
    """One query job and the snapshot of its rows (values as REST renders them)."""

    id: str
    operation: str
    object: str
    created_by: str
    created: str
    version: str
    column_delimiter: str
    line_ending: str
    header: list[str]
    rows: list[list[Any]]
    ready_at: float
    started: float
    failure: str | None = None
    aborted: bool = False
    modstamp: str = ""

    def state(self) -> str:
        """The job's state now."""
        if self.aborted:
            return "Aborted"
        if time.monotonic() < self.ready_at:
            return "InProgress"
        return "Failed" if self.failure else "JobComplete"


@dataclass
class BulkQueries:
    """The query jobs of one org, over its REST layer's schema and store."""

    rest: RestApi
    enabled: bool = True
    delay_seconds: float = 0.0
    fail_with: str | None = None
    jobs: OrderedDict[str, QueryJob] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        """No jobs; Bulk API enabled, jobs complete at once and succeed."""
        with self._lock:
            self.jobs.clear()
        self.enabled, self.delay_seconds, self.fail_with = True, 0.0, None

    def routes(self, v: str) -> list[tuple[str, str, Any]]:
        """(method, path regex, handler) entries for RestApi's routing table."""
        job = r"(?P<job>750[A-Za-z0-9]{12,15})"
        return [
            ("POST", rf"{v}/jobs/query", self.create),
            ("GET", rf"{v}/jobs/query", self.list_jobs),
            ("GET", rf"{v}/jobs/query/{job}", self.info),
            ("PATCH", rf"{v}/jobs/query/{job}", self.abort),
            ("DELETE", rf"{v}/jobs/query/{job}", self.delete),
            ("GET", rf"{v}/jobs/query/{job}/results", self.results),
        ]

    # --- helpers --------------------------------------------------------------------------
    def _check_available(self, version: str) -> None:
        if not self.enabled or float(version) < FIRST_VERSION:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")

    def _job(self, job_id: str) -> QueryJob:
        with self._lock:
            job = self.jobs.get(ids.normalize(job_id) or "")
        if job is None:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return job

    @staticmethod
    def _info(job: QueryJob, full: bool) -> dict[str, Any]:
        state = job.state() if full else "UploadComplete"
        body: dict[str, Any] = {
            "id": job.id, "operation": job.operation, "object": job.object, "createdById": job.created_by,
            "createdDate": job.created, "systemModstamp": job.modstamp or job.created, "state": state,
            "concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": float(job.version),
            "lineEnding": job.line_ending, "columnDelimiter": job.column_delimiter,
        }
        if full:
            done = state in ("JobComplete", "Failed", "Aborted")
            body.update(jobType="V2Query", numberRecordsProcessed=len(job.rows) if state == "JobComplete" else 0,
                        retries=0, isPkChunkingSupported=True,
                        totalProcessingTime=int((time.monotonic() - job.started) * 1000) if done else 0)
            if state == "Failed":
                body["errorMessage"] = job.failure
        return body

    # --- resources ------------------------------------------------------------------------
    def create(self, call: Call, version: str) -> tuple[int, Any, dict[str, str]]:
        """POST jobs/query: evaluate the query now and answer the new job's info."""
        self._check_available(version)
        body = call.body if isinstance(call.body, dict) else {}
        operation = body.get("operation")
        if operation not in ("query", "queryAll"):
            raise ApiError(400, "INVALIDJOB", f"Invalid operation: {operation!r}; use query or queryAll")
        text = body.get("query")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "INVALIDJOB", "A query is required")
        if body.get("contentType", "CSV") != "CSV":
            raise ApiError(400, "INVALIDJOB", "contentType must be CSV")
        delimiter = body.get("columnDelimiter", "COMMA")
        line_ending = body.get("lineEnding", "LF")
        if delimiter not in DELIMITERS:
            raise ApiError(400, "INVALIDJOB", f"Invalid columnDelimiter: {delimiter}")
        if line_ending not in LINE_ENDINGS:
            raise ApiError(400, "INVALIDJOB", f"Invalid lineEnding: {line_ending}")
        rest, store = self.rest, self.rest.store
        if operation == "queryAll":
            rest.purge_expired()
        with store.lock:
            query = soql.parse(text, rest.schema, store.now(), rest.tz)
            if query.count_only:
                raise ApiError(400, "API_ERROR", "Aggregate queries are not supported in Bulk API 2.0 query jobs")
            if any(t.kind == "ident" and t.text.upper() == "OFFSET" for t in soql.tokenize(text)):
                raise ApiError(400, "API_ERROR", "OFFSET is not supported in Bulk API 2.0 query jobs")
            rows = store.rows(query.obj, include_deleted=operation == "queryAll")
            matched = soql.evaluate(query, rows, store.get)
            views = store.views
            plain = [(None if p.hops else p.final_name, p) for p in query.select]
            snapshot = [[views[r["Id"]][name] if name else to_json(path.value(r, store.get))
                         for name, path in plain] for r in matched]
            created = format_datetime(store.now())
        now = time.monotonic()
        job = QueryJob(id=ids.make_id(JOB_PREFIX, secrets.randbelow(62 ** 9)), operation=operation,
                       object=query.obj.name, created_by=call.user_id, created=created, version=version,
                       column_delimiter=delimiter, line_ending=line_ending, header=[p.text for p in query.select],
                       rows=snapshot, ready_at=now + self.delay_seconds, started=now, failure=self.fail_with)
        with self._lock:
            self.jobs[job.id] = job
            while len(self.jobs) > _KEPT_JOBS:
                self.jobs.popitem(last=False)
        return 200, self._info(job, full=False), {}

    def list_jobs(self, call: Call, version: str) -> tuple[int, Any, dict[str, str]]:
        """GET jobs/query: every job the org holds."""
        self._check_available(version)
        with self._lock:
            jobs = list(self.jobs.values())
        return 200, {"done": True, "records": [self._info(j, full=True) for j in jobs], "nextRecordsUrl": None}, {}

    def info(self, call: Call, version: str, job: str) -> tuple[int, Any, dict[str, str]]:
        """GET jobs/query/{id}: the job's info and state."""
        self._check_available(version)
        return 200, self._info(self._job(job), full=True), {}

    def abort(self, call: Call, version: str, job: str) -> tuple[int, Any, dict[str, str]]:
        """PATCH jobs/query/{id} {state: Aborted}: abort a job that has not finished."""
        self._check_available(version)
        found = self._job(job)
        body = call.body if isinstance(call.body, dict) else {}
        if body.get("state") != "Aborted":
            raise ApiError(400, "INVALIDJOB", "Only the state Aborted can be set on a query job")
        if found.state() in ("JobComplete", "Failed"):
            raise ApiError(400, "INVALIDJOB", f"Job {found.id} is already finished ({found.state()})")
        found.aborted = True
        found.modstamp = format_datetime(self.rest.store.now())
        return 200, self._info(found, full=True), {}

    def delete(self, call: Call, version: str, job: str) -> tuple[int, Any, dict[str, str]]:
        """DELETE jobs/query/{id}: forget a finished job and its results."""
        self._check_available(version)
        found = self._job(job)
        if found.state() in ("UploadComplete", "InProgress"):
            raise ApiError(400, "INVALIDJOB", f"Job {found.id} must be finished or aborted before it is deleted")
        with self._lock:
            self.jobs.pop(found.id, None)
        return 204, None, {}

    def results(self, call: Call, version: str, job: str) -> tuple[int, Any, dict[str, str]]:
        """GET jobs/query/{id}/results: one set of rows as CSV, and the locator of the next set."""
        self._check_available(version)
        found = self._job(job)
        if found.version != version:
            raise ApiError(409, "INVALIDJOB", "Use the API version the job was created with to get its results")
        state = found.state()
        if state != "JobComplete":
            raise ApiError(400, "INVALIDJOB", f"Results are available when the job is JobComplete (it is {state})")
        raw_max = call.params.get("maxRecords")
        try:
            max_records = DEFAULT_MAX_RECORDS if raw_max is None else int(raw_max)
        except ValueError:
            max_records = 0
        if max_records <= 0:
            raise ApiError(400, "INVALIDJOB", f"maxRecords must be a positive whole number: {raw_max}")
        start = _offset(call.params.get("locator"), len(found.rows))
        chunk = found.rows[start:start + max_records]
        end = start + len(chunk)
        sep, eol = DELIMITERS[found.column_delimiter], LINE_ENDINGS[found.line_ending]
        lines = [sep.join(_cell(name) for name in found.header)]
        lines += [sep.join(_cell(value) for value in row) for row in chunk]
        headers = {"Sforce-Locator": _locator(end) if end < len(found.rows) else "null",
                   "Sforce-NumberOfRecords": str(len(chunk))}
        return 200, RawBody(eol.join(lines) + eol, "text/csv; charset=UTF-8"), headers


def _cell(value: Any) -> str:
    """One CSV field (RFC 4180): null empty, everything else quoted; booleans true/false, numbers as JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (int, float)):
        text = json.dumps(value)
    else:
        text = str(value)
    return '"' + text.replace('"', '""') + '"'


def _locator(offset: int) -> str:
    """An opaque locator, like Salesforce's `MTAwMDA` (the base64 of the offset)."""
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def _offset(locator: str | None, total: int) -> int:
    if locator in (None, ""):
        return 0
    try:
        padded = locator + "=" * (-len(locator) % 4)
        offset = int(base64.b64decode(padded, validate=True).decode())
    except (ValueError, UnicodeDecodeError):
        offset = -1
    if not 0 <= offset <= total:
        raise ApiError(400, "INVALIDLOCATOR", f"Invalid locator: {locator}")
    return offset
