"""`SalesforceGateway`: the only object in tsunagi that sends requests to Salesforce.

It signs in (salesforce.auth), verifies TLS against SALESFORCE_CA_BUNDLE (salesforce.session),
retries what is worth retrying, turns every failure into the salesforce.errors tree, and counts
every call (salesforce.usage). It uses simple-salesforce for SOQL quoting (`format_soql`) and
external-id paths, but sends the REST requests itself: simple-salesforce retries nothing, and its
own session refresh recurses without bound on the `sf.Lead.*` path.

Behaviour of every call
- 5xx, connection errors and timeouts: retried with exponential back-off, at most
  SALESFORCE_MAX_RETRIES times, then TransientError. A request that is not idempotent (a POST that
  creates records) is retried only when it certainly never reached Salesforce (connection refused
  or connect timeout); otherwise TransientError(maybe_committed=True) goes to the caller, which
  knows how to check (writeback upserts by Tsunagi_Key__c, or looks the record up first).
- 401 (INVALID_SESSION_ID): sign in again exactly once and resend, where a sign-in flow is
  configured. A second 401, a failed sign-in, or a bare access token with no flow is AuthError
  whose message names INVALID_SESSION_ID and the settings to fix (`Credentials.settings_hint`).
- 403 REQUEST_LIMIT_EXCEEDED: LimitExceeded(resume_at); the gateway then refuses every call
  without sending it until resume_at (SALESFORCE_LIMIT_PAUSE_SECONDS), so workers pause instead
  of burning requests. 400/other 4xx: ValidationError, never retried. 404: NotFound/RecordDeleted.

Methods (stable; other packages rely on them)
- `soql(template, **values)` → SOQL text; the ONE way to put values into a query (format_soql).
- `query(soql, batch_size=None)` → iterator of records, following nextRecordsUrl.
- `query_all(soql, batch_size=None)` → the same over queryAll (deleted and archived rows too).
- `query_ids(select_from, ids, include_deleted=False)` → records `WHERE Id IN (ids)`, split into as
  many queries as keep each GET under Salesforce's 16,384-byte URI limit (no request over it is sent).
- `query_page(soql_or_next_url, batch_size=None, include_deleted=False)` → one page
  `{records, done, totalSize, nextRecordsUrl?}`, for callers that checkpoint per page.
- `get(object_name, record_id, fields=None)`, `describe(object_name)`, `describe_global()`,
  `limits()`, `updated(object_name, start, end)`, `deleted(object_name, start, end)`.
- `composite(subrequests, all_or_none=False)` → one subresponse per subrequest; cut into calls of
  ≤ 25 subrequests with ≤ 5 query operations or collections each (Salesforce refuses more).
- `create_many / update_many / upsert_many / delete_many` → one RecordResult per record, in
  order, through sObject Collections (200 per call; 450 records → 3 calls).
- `bulk_query(soql, include_deleted=False, ...)` → iterator of records as dicts of strings, from
  one Bulk API 2.0 query job (salesforce.bulk); BulkNotSupported / BulkJobFailed when it cannot.
- `request(method, path, ...)` → parsed JSON, for REST resources not covered above.
- `usage` (salesforce.usage.ApiUsage): calls made, last `Sforce-Limit-Info`, `add_listener`.
- `org_now()` → the org's time from the `Date` header of its answers (salesforce.orgclock), never
  the host's clock; asks `limits/` once when no answer was seen yet.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
import tenacity
from simple_salesforce.format import format_soql
from urllib3.exceptions import NewConnectionError

from db import utcnow
from salesforce.auth import Credentials, Token
from salesforce.batch import BatchOperations
from salesforce.bulk import BulkQueries
from salesforce.errors import (
    AuthError,
    LimitExceeded,
    NotFound,
    RecordDeleted,
    SalesforceError,
    TransientError,
    ValidationError,
)
from salesforce.orgclock import OrgClock
from salesforce.session import SalesforceSession
from salesforce.usage import ApiUsage

log = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE"})
# "In each REST call, the maximum length for the combined URI and headers is 16,384 bytes" (414 for
# the URI alone, 431 with the headers; Salesforce Help, knowledge article 000386264). The gateway
# never sends a longer request; the margin covers the headers requests adds itself (User-Agent…).
MAX_URI_AND_HEADERS = 16_384
_HEADER_MARGIN = 512


def request_bytes(url: str, params: dict[str, Any] | None, headers: dict[str, str]) -> int:
    """Bytes of the request target (path and query string, as sent) plus the given headers."""
    prepared = requests.Request("GET", url, params=params).prepare().path_url
    return len(prepared.encode("latin-1", "replace")) + sum(len(k) + len(v) + 4 for k, v in headers.items())


def query_uri_bytes(soql: str) -> int:
    """Bytes of a `query/?q=` request target for `soql` (without the instance's path prefix)."""
    return len(requests.Request("GET", "https://x/services/data/v62.0/queryAll/",
                                params={"q": soql}).prepare().path_url)


def _salesforce_time(value: datetime) -> str:
    """ISO 8601 in UTC as the updated/deleted resources expect; naive datetimes are refused."""
    if value.tzinfo is None:
        raise ValueError("Salesforce times must be timezone-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request certainly did not reach the server (so re-sending cannot duplicate)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = exc.args[0] if exc.args else None
    return isinstance(getattr(reason, "reason", None), NewConnectionError) or isinstance(reason, NewConnectionError)


class SalesforceGateway(BatchOperations, BulkQueries):
    """A signed-in, retrying, counting client of one Salesforce org (safe to share between threads)."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        api_version: str = "59.0",
        timeout: float = 30.0,
        max_retries: int = 4,
        backoff_seconds: float = 1.0,
        limit_pause_seconds: float = 600.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.credentials = credentials
        self.api_version = api_version.removeprefix("v")
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.limit_pause_seconds = limit_pause_seconds
        self.session = session or SalesforceSession(credentials.ca_bundle)
        self.usage = ApiUsage()
        # Every answer (token requests too) tells the org's time: watermarks come from it.
        self.org_clock = OrgClock()
        self.session.hooks["response"].append(self.org_clock.observe_response)
        self.paused_until: datetime | None = None
        self._sleep = sleep or tenacity.nap.sleep
        self._token: Token | None = credentials.initial
        self._token_lock = threading.Lock()

    # --- signing in -----------------------------------------------------------------------
    @property
    def base_path(self) -> str:
        """The REST API root, e.g. /services/data/v59.0/."""
        return f"/services/data/v{self.api_version}/"

    @property
    def instance_url(self) -> str:
        """The org's URL (signs in first if needed)."""
        return self._current_token().instance_url

    def _fetch_token(self) -> Token:
        flow = self.credentials.flow
        if flow is None:
            raise AuthError("the Salesforce access token was refused and no way to get a new one is configured")
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(TransientError),
            stop=tenacity.stop_after_attempt(self.max_retries + 1),
            wait=tenacity.wait_exponential(multiplier=self.backoff_seconds, max=60),
            sleep=self._sleep, reraise=True,
        )
        for attempt in retrying:
            with attempt:
                self.usage.record_auth()
                token = flow.fetch(self.session, self.timeout)
        log.info("signed in to Salesforce at %s (%s)", token.instance_url, flow.name)
        return token

    def _current_token(self) -> Token:
        with self._token_lock:
            if self._token is None:
                self._token = self._fetch_token()
            return self._token

    def _renew_token(self, stale: Token) -> Token:
        """A fresh token, unless another thread already replaced the stale one meanwhile."""
        with self._token_lock:
            if self._token is None or self._token == stale:
                self._token = None
                self._token = self._fetch_token()
            return self._token

    # --- one request ------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        idempotent: bool | None = None,
        max_retries: int | None = None,
        timeout: float | None = None,
        raw: bool = False,
    ) -> Any:
        """Send one REST request with retries and re-authentication; return the parsed JSON (None if empty).

        `path` is relative to the API root ("query/"), absolute ("/services/data/…") or a full URL.
        `idempotent` overrides the guess from the method; `max_retries`/`timeout` the gateway's own.
        With `raw`, a successful answer is returned as the `requests.Response` (CSV bodies, headers).
        """
        method = method.upper()
        safe_to_resend = method in IDEMPOTENT_METHODS if idempotent is None else idempotent

        def worth_retrying(exc: BaseException) -> bool:
            return isinstance(exc, TransientError) and (safe_to_resend or not exc.maybe_committed)

        def log_retry(state: tenacity.RetryCallState) -> None:
            log.warning("Salesforce %s %s failed (%s); retry %d", method, path,
                        state.outcome.exception() if state.outcome else "?", state.attempt_number)

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(worth_retrying),
            stop=tenacity.stop_after_attempt((self.max_retries if max_retries is None else max_retries) + 1),
            wait=tenacity.wait_exponential(multiplier=self.backoff_seconds, max=60),
            sleep=self._sleep, reraise=True, before_sleep=log_retry,
        )
        call = {"renewed": False, "timeout": self.timeout if timeout is None else timeout, "raw": raw}
        return retrying(self._send_with_session, method, path, params, json, headers, call)

    def _send_with_session(self, method: str, path: str, params: dict[str, Any] | None, body: Any,
                           headers: dict[str, str] | None, call: dict[str, Any]) -> Any:
        self._refuse_while_paused()
        token = self._current_token()
        response = self._send(token, method, path, params, body, headers, call["timeout"])
        if response.status_code == 401:
            # At most one re-authentication per logical call, retries included: never a loop.
            if call["renewed"] or self.credentials.flow is None:
                raise self._session_refused(response, renewed=call["renewed"])
            call["renewed"] = True
            log.info("Salesforce session expired (INVALID_SESSION_ID); signing in again")
            try:
                token = self._renew_token(token)
            except AuthError as exc:
                raise self._session_refused(response, renewed=False, sign_in_error=exc) from exc
            response = self._send(token, method, path, params, body, headers, call["timeout"])
            if response.status_code == 401:
                raise self._session_refused(response, renewed=True)
        return self._result(method, response, call["raw"])

    def _session_refused(self, response: requests.Response, *, renewed: bool,
                         sign_in_error: AuthError | None = None) -> AuthError:
        """The AuthError of a 401: it names INVALID_SESSION_ID and the settings an admin should fix.

        The code stays in the message (not only in `.errors`) because the sync cycle and job
        records keep the message, and an admin searches them for Salesforce's error code.
        """
        errors = self._errors(response)
        # Salesforce answers 401 only with INVALID_SESSION_ID; a proxy's 401 (no JSON) is named so too,
        # with what it said, so the admin's search finds every refused session.
        code = "INVALID_SESSION_ID"
        said = "; ".join(f"{e.get('errorCode')}: {e.get('message', '')}" if e.get("errorCode") not in (None, code)
                         else str(e.get("message", "")) for e in errors if e.get("message"))[:300]
        flow = self.credentials.flow
        if sign_in_error is not None:
            what = f"the session expired and signing in again ({flow.name if flow else '-'}) failed: {sign_in_error}"
        elif renewed:
            what = f"Salesforce refused a freshly obtained session ({flow.name if flow else '-'})"
        else:
            what = "Salesforce refused the access token and no sign-in flow is configured to get a new one"
        hint = self.credentials.settings_hint or "check the SALESFORCE_* sign-in settings"
        detail = f" (Salesforce: {said})" if said else ""
        errors = errors or [{"message": "Session expired or invalid", "errorCode": code}]
        return AuthError(f"{code}: {what}{detail}; {hint}", status=401, errors=errors)

    def _url(self, token: Token, path: str) -> str:
        if path.startswith(("https://", "http://")):
            return path
        if path.startswith("/"):
            return token.instance_url + path
        return token.instance_url + self.base_path + path

    def _send(self, token: Token, method: str, path: str, params: dict[str, Any] | None, body: Any,
              headers: dict[str, str] | None, timeout: float) -> requests.Response:
        all_headers = {"Authorization": f"Bearer {token.access_token}", "Accept": "application/json",
                       **(headers or {})}
        url = self._url(token, path)
        if request_bytes(url, params, all_headers) > MAX_URI_AND_HEADERS - _HEADER_MARGIN:
            # Refused before sending: Salesforce would answer 414/431, and a retry cannot help.
            raise ValidationError(f"{method} {path}: the URI and headers would exceed Salesforce's "
                                  f"{MAX_URI_AND_HEADERS:,}-byte limit", status=414,
                                  errors=[{"message": "URI Too Long", "errorCode": "URI_TOO_LONG"}])
        try:
            response = self.session.request(method, url, params=params, json=body,
                                            headers=all_headers, timeout=timeout)
        except requests.RequestException as exc:
            self.usage.record(method, path, None, None)
            never_sent = _never_sent(exc)
            raise TransientError(f"{method} {path}: {type(exc).__name__}: {exc}",
                                 maybe_committed=not never_sent and method != "GET") from exc
        self.usage.record(method, path, response.status_code, response.headers.get("Sforce-Limit-Info"))
        return response

    def _refuse_while_paused(self) -> None:
        paused_until = self.paused_until
        if paused_until is not None and utcnow() < paused_until:
            raise LimitExceeded(f"Salesforce API limit reached; paused until {paused_until.isoformat()}",
                                resume_at=paused_until, status=403)

    def resume(self) -> None:
        """Lift a limit pause early (an admin action, or after raising the org's limit)."""
        self.paused_until = None

    @staticmethod
    def _errors(response: requests.Response) -> list[dict[str, Any]]:
        try:
            body = response.json()
        except ValueError:
            return [{"message": response.text[:500], "errorCode": f"HTTP_{response.status_code}"}]
        if isinstance(body, list):
            return [e for e in body if isinstance(e, dict)]
        if isinstance(body, dict):
            return [body]
        return []

    def _result(self, method: str, response: requests.Response, raw: bool = False) -> Any:
        status = response.status_code
        if status < 300 and raw:
            return response
        if status < 300:
            if status == 204 or not response.content:
                return None
            return response.json()
        errors = self._errors(response)
        codes = {e.get("errorCode") for e in errors}
        message = "; ".join(str(e.get("message", "")) for e in errors)[:1000] or f"HTTP {status}"
        if status >= 500:
            raise TransientError(f"Salesforce answered {status}: {message}", status=status, errors=errors,
                                 maybe_committed=method != "GET")
        if status == 403 and "REQUEST_LIMIT_EXCEEDED" in codes:
            self.paused_until = utcnow() + timedelta(seconds=self.limit_pause_seconds)
            log.warning("Salesforce API limit exceeded (%s); pausing until %s", self.usage.snapshot(),
                        self.paused_until.isoformat())
            raise LimitExceeded(message, resume_at=self.paused_until, status=status, errors=errors)
        if status == 404:
            cls = RecordDeleted if "ENTITY_IS_DELETED" in codes else NotFound
            raise cls(message, status=status, errors=errors)
        raise ValidationError(message, status=status, errors=errors)

    # --- reading -----------------------------------------------------------------------------
    @staticmethod
    def soql(template: str, *args: Any, **values: Any) -> str:
        """Build SOQL with every value quoted by simple-salesforce's format_soql ({} / {name})."""
        return format_soql(template, *args, **values)

    def query_page(self, soql_or_next_url: str, batch_size: int | None = None,
                   include_deleted: bool = False) -> dict[str, Any]:
        """One page of a query: `{records, done, totalSize, nextRecordsUrl?}`."""
        # 200 is the smallest and 2,000 the largest page Salesforce honours for batchSize.
        headers = {"Sforce-Query-Options": f"batchSize={max(200, min(2000, batch_size))}"} if batch_size else None
        if soql_or_next_url.startswith("/services/data/"):
            return self.request("GET", soql_or_next_url, headers=headers)
        resource = "queryAll/" if include_deleted else "query/"
        return self.request("GET", resource, params={"q": soql_or_next_url}, headers=headers)

    def query_ids(self, select_from: str, ids: list[str], include_deleted: bool = False,
                  batch_size: int | None = None) -> Iterator[dict[str, Any]]:
        """Records of `SELECT … FROM X` (`select_from`) `WHERE Id IN (ids)`, in as many queries as the
        URI limit needs: each query's GET URL stays under 16,384 bytes with its headers."""
        pending = [list(ids)] if ids else []
        while pending:
            chunk = pending.pop(0)
            soql = select_from + self.soql(" WHERE Id IN {ids}", ids=chunk)
            if len(chunk) > 1 and query_uri_bytes(soql) > MAX_URI_AND_HEADERS - _HEADER_MARGIN - 2_048:
                half = len(chunk) // 2
                pending[:0] = [chunk[:half], chunk[half:]]
                continue
            yield from self._records(soql, batch_size, include_deleted)

    def _records(self, soql: str, batch_size: int | None, include_deleted: bool) -> Iterator[dict[str, Any]]:
        page = self.query_page(soql, batch_size, include_deleted)
        while True:
            yield from page.get("records", [])
            if page.get("done", True) or not page.get("nextRecordsUrl"):
                return
            page = self.query_page(page["nextRecordsUrl"], batch_size)

    def query(self, soql: str, batch_size: int | None = None) -> Iterator[dict[str, Any]]:
        """Every record the query matches, page after page (each page is one call)."""
        return self._records(soql, batch_size, include_deleted=False)

    def query_all(self, soql: str, batch_size: int | None = None) -> Iterator[dict[str, Any]]:
        """Like `query`, including deleted (IsDeleted = true) and archived records."""
        return self._records(soql, batch_size, include_deleted=True)

    def get(self, object_name: str, record_id: str, fields: list[str] | None = None) -> dict[str, Any]:
        """One record by Id (NotFound / RecordDeleted when gone)."""
        params = {"fields": ",".join(fields)} if fields else None
        return self.request("GET", f"sobjects/{object_name}/{record_id}", params=params)

    def describe(self, object_name: str) -> dict[str, Any]:
        """The object's describe: fields, types, lengths, picklist values."""
        return self.request("GET", f"sobjects/{object_name}/describe/")

    def describe_global(self) -> dict[str, Any]:
        """Every object in the org (`sobjects`)."""
        return self.request("GET", "sobjects/")

    def limits(self) -> dict[str, Any]:
        """The org's limits, e.g. `DailyApiRequests: {Max, Remaining}`."""
        return self.request("GET", "limits/")

    def org_now(self) -> datetime:
        """The org's time now, from the `Date` header of its latest answer (one `limits/` call if none yet)."""
        now = self.org_clock.now()
        if now is None:
            self.limits()
            now = self.org_clock.now()
        if now is None:
            raise TransientError("Salesforce's answers carry no Date header: the org's time is unknown")
        return now

    def updated(self, object_name: str, start: datetime, end: datetime) -> dict[str, Any]:
        """`{ids, latestDateCovered}`: records of `object_name` changed between start and end."""
        params = {"start": _salesforce_time(start), "end": _salesforce_time(end)}
        return self.request("GET", f"sobjects/{object_name}/updated/", params=params)

    def deleted(self, object_name: str, start: datetime, end: datetime) -> dict[str, Any]:
        """`{deletedRecords: [{id, deletedDate}], earliestDateAvailable, latestDateCovered}`."""
        params = {"start": _salesforce_time(start), "end": _salesforce_time(end)}
        return self.request("GET", f"sobjects/{object_name}/deleted/", params=params)


__all__ = ["SalesforceError", "SalesforceGateway"]
