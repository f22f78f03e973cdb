"""Bulk API 2.0 query jobs: one job reads a whole object in a few calls, whatever its size.

    for record in gateway.bulk_query("SELECT Id, Name FROM Account", include_deleted=True):
        record  # {"Id": "001…", "Name": "…"}: every value a string, null as ""

A job is created (POST jobs/query), polled with growing pauses (1 s, 2 s, 4 s … at most 30 s)
until JobComplete, and its CSV results are read set by set, following `Sforce-Locator` until it
says "null". Every request goes through the gateway's `request`: retried, re-authenticated,
counted and paused like any other call. Bulk API 2.0 returns text only, so callers that need
REST's JSON types convert the strings themselves (sync.bulkload does, from the describe).

An org without Bulk API 2.0 (404, API_DISABLED_FOR_ORG, FEATURENOTENABLED…) or an object it
does not serve raises BulkNotSupported; a job that ends Failed or Aborted, or does not finish
within `timeout_seconds` (it is then aborted), raises BulkJobFailed.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterator
from typing import Any

from salesforce.errors import BulkJobFailed, BulkNotSupported, NotFound, SalesforceError, ValidationError

log = logging.getLogger(__name__)

# Error codes meaning "no Bulk API 2.0 here" (for the org, the user or the object).
NOT_SUPPORTED_CODES = frozenset({
    "NOT_FOUND", "API_DISABLED_FOR_ORG", "FEATURENOTENABLED", "FEATURE_NOT_ENABLED", "INVALIDENTITY",
    "INVALID_TYPE_FOR_OPERATION", "API_CURRENTLY_DISABLED", "INSUFFICIENT_ACCESS",
})
MAX_RECORDS = 50_000  # records per result set: large sets mean few calls, small enough to hold in memory
MAX_POLL_SECONDS = 30.0
DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}


class BulkQueries:
    """The Bulk API 2.0 query method of the gateway, built on its `request` and `_sleep`."""

    _sleep: Callable[[float], None]

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None,
                headers: dict[str, str] | None = None, idempotent: bool | None = None,
                max_retries: int | None = None, raw: bool = False) -> Any:
        """Send one REST request (implemented by SalesforceGateway)."""
        raise NotImplementedError

    def bulk_query(self, soql: str, *, include_deleted: bool = False, max_records: int = MAX_RECORDS,
                   timeout_seconds: float = 1800.0,
                   on_wait: Callable[[dict[str, Any]], None] | None = None) -> Iterator[dict[str, str]]:
        """Every record `soql` matches (queryAll with `include_deleted`) from one query job, as strings.

        `on_wait(job_info)` is called after every poll that found the job unfinished (keep a lease,
        check a quota); whatever it raises aborts the job and propagates. Nothing is sent before
        the first record is asked for.
        """
        job_id = self._create_query_job(soql, include_deleted)
        info = self._wait_for_job(job_id, timeout_seconds, on_wait)
        delimiter = DELIMITERS.get(str(info.get("columnDelimiter") or "COMMA"), ",")
        locator: str | None = None
        while True:
            params: dict[str, Any] = {"maxRecords": max_records}
            if locator:
                params["locator"] = locator
            response = self.request("GET", f"jobs/query/{job_id}/results", params=params,
                                    headers={"Accept": "text/csv"}, raw=True)
            yield from _csv_records(response.content.decode("utf-8-sig"), delimiter)
            locator = response.headers.get("Sforce-Locator")
            if not locator or locator == "null":
                return

    def _create_query_job(self, soql: str, include_deleted: bool) -> str:
        body = {"operation": "queryAll" if include_deleted else "query", "query": soql,
                "contentType": "CSV", "columnDelimiter": "COMMA", "lineEnding": "LF"}
        try:
            # Re-sending a create after a 5xx at worst leaves one unused job behind: safe to retry.
            job = self.request("POST", "jobs/query", json=body, idempotent=True)
        except (NotFound, ValidationError) as exc:
            if isinstance(exc, NotFound) or exc.error_code in NOT_SUPPORTED_CODES:
                raise BulkNotSupported(f"Bulk API 2.0 query jobs are not available: {exc}", status=exc.status,
                                       errors=exc.errors) from exc
            raise
        if not isinstance(job, dict) or not job.get("id"):
            raise BulkNotSupported("Bulk API 2.0 answered a job creation without a job id")
        log.info("bulk query job %s created (%s)", job["id"], body["operation"])
        return str(job["id"])

    def _wait_for_job(self, job_id: str, timeout_seconds: float,
                      on_wait: Callable[[dict[str, Any]], None] | None) -> dict[str, Any]:
        """Poll until JobComplete; the pauses between polls grow from 1 s to 30 s."""
        waited, pause = 0.0, 1.0
        try:
            while True:
                info = self.request("GET", f"jobs/query/{job_id}")
                state = info.get("state")
                if state == "JobComplete":
                    return info
                if state in ("Failed", "Aborted"):
                    raise BulkJobFailed(f"bulk query job {job_id} ended {state}: {info.get('errorMessage') or ''}",
                                        job_id=job_id, state=state)
                if on_wait is not None:
                    on_wait(info)
                if waited + pause > timeout_seconds:
                    raise BulkJobFailed(f"bulk query job {job_id} did not finish within {timeout_seconds:g} s "
                                        f"(state {state})", job_id=job_id, state="Timeout")
                self._sleep(pause)
                waited += pause
                pause = min(pause * 2, MAX_POLL_SECONDS)
        except BaseException as exc:
            if not (isinstance(exc, BulkJobFailed) and exc.state in ("Failed", "Aborted")):
                self._abort_quietly(job_id)
            raise

    def _abort_quietly(self, job_id: str) -> None:
        """Abort a job we stop waiting for, so it does not run on for nothing; failures are only logged."""
        try:
            self.request("PATCH", f"jobs/query/{job_id}", json={"state": "Aborted"}, max_retries=0)
        except SalesforceError as exc:
            log.warning("could not abort bulk query job %s: %s", job_id, exc)


def _csv_records(text: str, delimiter: str) -> Iterator[dict[str, str]]:
    """The rows of one CSV result set as dicts keyed by the header row (RFC 4180 quoting)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = next(reader, None)
    if not header:
        return
    width = len(header)
    for row in reader:
        if not row:
            continue  # the blank line a trailing line ending may leave
        if len(row) != width:
            raise BulkJobFailed(f"bulk query result row has {len(row)} fields, the header {width}")
        yield dict(zip(header, row, strict=True))
