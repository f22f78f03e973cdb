"""Batched calls: sObject Collections (200 records per call) and Composite (25 subrequests per call).

Each of these requests counts as ONE API call against the org's daily limit, however many records
or subrequests it carries, which is why tsunagi writes and reads in batches wherever it can.
Results come back per record, in the order given; a failure of the whole request (limit, 5xx,
auth) raises from salesforce.errors. With several chunks, chunks before the failing one have been
sent: callers that must know exactly what was written send one chunk at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

# Salesforce's limits for one request (REST API Developer Guide, sObject Collections / Composite).
COLLECTION_SIZE = 200
COMPOSITE_SIZE = 25
# At most 5 of a composite call's subrequests may be query operations (query, queryAll, query
# more) or sObject Collections; sObject resources such as sobjects/X/updated are not.
COMPOSITE_QUERIES = 5


def is_query_operation(url: str) -> bool:
    """True for a composite subrequest URL that counts against COMPOSITE_QUERIES."""
    path = url.partition("?")[0]
    if path.startswith("/services/data/"):
        path = path.removeprefix("/services/data/").partition("/")[2]
    return path.startswith(("query/", "queryAll/", "composite/sobjects")) or path in ("query", "queryAll")


def subresponse_message(answer: dict[str, Any]) -> str:
    """The error of one failed composite subresponse: `errorCode: message`, else its HTTP status."""
    body = answer.get("body")
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return f"{body[0].get('errorCode')}: {body[0].get('message')}"
    return f"HTTP {answer.get('httpStatusCode')}"


def composite_chunks(subrequests: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Subrequests in order, cut into composite calls of ≤ 25, each with ≤ 5 query operations."""
    pieces: list[list[dict[str, Any]]] = []
    queries = 0
    for sub in subrequests:
        query = is_query_operation(str(sub["url"]))
        if not pieces or len(pieces[-1]) == COMPOSITE_SIZE or (query and queries == COMPOSITE_QUERIES):
            pieces.append([])
            queries = 0
        pieces[-1].append(sub)
        queries += query
    return pieces


@dataclass(frozen=True)
class RecordResult:
    """What Salesforce did with one record of a collections request."""

    success: bool
    id: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    created: bool | None = None  # upserts only: True when a new record was made

    @property
    def error_code(self) -> str | None:
        """The first error's code (collections name it statusCode), e.g. REQUIRED_FIELD_MISSING."""
        if not self.errors:
            return None
        return self.errors[0].get("statusCode") or self.errors[0].get("errorCode")

    @property
    def error_message(self) -> str:
        """Every error's message, with the fields it names, as one line for people to read."""
        parts = []
        for error in self.errors:
            fields = error.get("fields") or []
            suffix = f" ({', '.join(fields)})" if fields else ""
            parts.append(f"{error.get('message', '')}{suffix}")
        return "; ".join(parts)

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> RecordResult:
        """Parse one element of a collections response."""
        return cls(success=bool(item.get("success")), id=item.get("id"), errors=list(item.get("errors") or []),
                   created=item.get("created"))


def chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    """`items` cut into consecutive pieces of at most `size`."""
    return [items[i:i + size] for i in range(0, len(items), size)]


class BatchOperations:
    """Composite and sObject Collections methods of the gateway, built on its `request`."""

    @property
    def base_path(self) -> str:
        """The REST API root (implemented by SalesforceGateway)."""
        raise NotImplementedError

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None,
                headers: dict[str, str] | None = None, idempotent: bool | None = None) -> Any:
        """Send one REST request (implemented by SalesforceGateway)."""
        raise NotImplementedError

    def composite(self, subrequests: Sequence[dict[str, Any]],
                  all_or_none: bool = False) -> list[dict[str, Any]]:
        """Send subrequests `{method, url, referenceId, body?, httpHeaders?}`; return their subresponses.

        One call holds ≤ 25 subrequests, of which ≤ 5 query operations or collections (more are
        refused by Salesforce); longer lists go in order over several calls. `url` may be relative
        to the API root ("sobjects/Contact/003…"). References between subrequests work within one
        call only, so an `all_or_none` list that needs more than one call is refused.
        """
        pieces = composite_chunks(subrequests)
        if all_or_none and len(pieces) > 1:
            raise ValueError(f"all_or_none composite requests hold at most {COMPOSITE_SIZE} subrequests, "
                             f"{COMPOSITE_QUERIES} of them queries or collections")
        responses: list[dict[str, Any]] = []
        for piece in pieces:
            prepared = []
            for sub in piece:
                url = sub["url"]
                prepared.append({**sub, "url": url if url.startswith("/") else self.base_path + url})
            body = {"allOrNone": all_or_none, "compositeRequest": prepared}
            # Re-sending is safe only when no subrequest creates something.
            idempotent = all(str(sub["method"]).upper() != "POST" for sub in piece)
            answer = self.request("POST", "composite", json=body, idempotent=idempotent)
            responses.extend(answer.get("compositeResponse", []))
        return responses

    def _collection(self, method: str, path: str, object_name: str,
                    records: Sequence[dict[str, Any]], all_or_none: bool) -> list[RecordResult]:
        results: list[RecordResult] = []
        for piece in chunks(records, COLLECTION_SIZE):
            body = {"allOrNone": all_or_none,
                    "records": [{"attributes": {"type": object_name}, **record} for record in piece]}
            answer = self.request(method, path, json=body)
            results.extend(RecordResult.from_json(item) for item in answer or [])
        return results

    def create_many(self, object_name: str, records: Sequence[dict[str, Any]],
                    all_or_none: bool = False) -> list[RecordResult]:
        """Create records, 200 per call. Not idempotent: a lost answer is TransientError(maybe_committed)."""
        return self._collection("POST", "composite/sobjects", object_name, records, all_or_none)

    def update_many(self, object_name: str, records: Sequence[dict[str, Any]],
                    all_or_none: bool = False) -> list[RecordResult]:
        """Update records (each with its `Id`), 200 per call."""
        for record in records:
            if not record.get("Id"):
                raise ValueError("update_many needs an Id in every record")
        return self._collection("PATCH", "composite/sobjects", object_name, records, all_or_none)

    def upsert_many(self, object_name: str, external_id_field: str, records: Sequence[dict[str, Any]],
                    all_or_none: bool = False) -> list[RecordResult]:
        """Create or update records matched on `external_id_field`, 200 per call (safe to re-send)."""
        for record in records:
            if not record.get(external_id_field):
                raise ValueError(f"upsert_many needs {external_id_field} in every record")
        path = f"composite/sobjects/{quote(object_name)}/{quote(external_id_field)}"
        return self._collection("PATCH", path, object_name, records, all_or_none)

    def delete_many(self, record_ids: Sequence[str], all_or_none: bool = False) -> list[RecordResult]:
        """Delete records by Id, 200 per call."""
        results: list[RecordResult] = []
        for piece in chunks(record_ids, COLLECTION_SIZE):
            params = {"ids": ",".join(piece), "allOrNone": "true" if all_or_none else "false"}
            answer = self.request("DELETE", "composite/sobjects", params=params)
            results.extend(RecordResult.from_json(item) for item in answer or [])
        return results
