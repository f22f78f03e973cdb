"""The REST resources of the dev org, as a plain function from request to response.

`RestApi.handle(call)` takes a `Call` (method, path under /services/data, query parameters, JSON
body, headers, acting user) and returns `(status, body, headers)`; it knows nothing about HTTP
servers, tokens or API budgets (devorg.server does), so composite subrequests reuse it directly.
"""

from __future__ import annotations

import random
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any
from urllib.parse import unquote_plus

from devorg import ids, soql
from devorg.bulk import BulkQueries
from devorg.errors import ApiError
from devorg.schema import ObjectDef, Schema, describe_field, format_datetime, parse_datetime, to_json
from devorg.store import Record, Store

API_VERSIONS = tuple(f"{v}.0" for v in range(31, 63))
MAX_BATCH = 2000     # the REST query page size: default and maximum
MIN_BATCH = 200      # Sforce-Query-Options batchSize minimum
MAX_COLLECTION = 200  # sObject Collections records per request
MAX_COMPOSITE = 25    # composite subrequests per request
# Of those, at most 5 may be query operations (query, queryAll, query more) or sObject Collections
# (REST API guide, "Composite": 「このサブ要求のうち最大 5 個をクエリ操作とすることができます」).
MAX_COMPOSITE_QUERIES = 5
_QUERY_OPERATION = re.compile(r"v\d+\.\d/(query|queryAll|composite/sobjects)(/|$)")
# Query locators (API guide, "QueryLocator"): "A user can have up to 10 query cursors open at a
# time" (opening an 11th releases the user's oldest) and they "expire automatically after 15 minutes
# of inactivity". API 56.0 lifted both limits; the dev org keeps the older, stricter ones so the sync
# must survive a lost cursor.
CURSORS_PER_USER = 10
CURSOR_IDLE = timedelta(minutes=15)
_OPEN_CURSORS = 200
RECYCLE_BIN_DAYS = 15  # deleted records stay queryable with queryAll this long
Response = tuple[int, Any, dict[str, str]]


@dataclass
class Call:
    """One REST call: `path` is what follows /services/data/ (e.g. `v59.0/sobjects/Lead`)."""

    method: str
    path: str
    params: dict[str, str]
    body: Any
    headers: dict[str, str]
    user_id: str
    language: str = "ja"


@dataclass
class Cursor:
    """An open query's remaining snapshot of records, served page by page via nextRecordsUrl."""

    records: list[Record]
    query: soql.Query
    batch: int
    include_deleted: bool
    version: str
    position: int = 0
    parents: dict[str, dict[str, Any]] = field(default_factory=dict)  # views of referenced records
    user_id: str = ""
    touched: datetime | None = None  # the org's time of the cursor's last page


@dataclass
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Callable[..., Response]


@dataclass
class RestApi:
    """The /services/data resources over one `Store`."""

    schema: Schema
    store: Store
    tz: tzinfo
    limits: Callable[[], dict[str, Any]]
    cursors: OrderedDict[str, Cursor] = field(default_factory=OrderedDict)
    _cursor_lock: threading.Lock = field(default_factory=threading.Lock)
    _routes: list[_Route] = field(default_factory=list)
    bulk: BulkQueries = field(init=False)
    # Salesforce may return fewer records than the batch size (or LIMIT) asked for and still have
    # more ("There is no guarantee that the requested batch size is the actual batch size"): with
    # short_pages on, every page holds a random number of records up to the batch size.
    short_pages: bool = False
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self.bulk = BulkQueries(self)
        v = r"v(?P<version>\d+\.\d)"
        obj = r"(?P<obj>[A-Za-z0-9_]+)"
        table = [
            ("GET", rf"{v}", self.resources),
            ("GET", rf"{v}/limits", self.get_limits),
            ("GET", rf"{v}/sobjects", self.describe_global),
            ("GET", rf"{v}/sobjects/{obj}", self.object_info),
            ("POST", rf"{v}/sobjects/{obj}", self.create),
            ("GET", rf"{v}/sobjects/{obj}/describe", self.describe),
            ("GET", rf"{v}/sobjects/{obj}/updated", self.updated),
            ("GET", rf"{v}/sobjects/{obj}/deleted", self.deleted),
            ("GET", rf"{v}/sobjects/{obj}/(?P<rid>[A-Za-z0-9]+)", self.retrieve),
            ("PATCH", rf"{v}/sobjects/{obj}/(?P<rid>[A-Za-z0-9]+)", self.update),
            ("DELETE", rf"{v}/sobjects/{obj}/(?P<rid>[A-Za-z0-9]+)", self.delete),
            ("GET", rf"{v}/sobjects/{obj}/(?P<ext>[A-Za-z0-9_]+)/(?P<value>[^/]+)", self.retrieve_by_external),
            ("PATCH", rf"{v}/sobjects/{obj}/(?P<ext>[A-Za-z0-9_]+)/(?P<value>[^/]+)", self.upsert),
            ("GET", rf"{v}/(?P<endpoint>query|queryAll)", self.query),
            ("GET", rf"{v}/(?P<endpoint>query|queryAll)/(?P<cursor>01g[A-Za-z0-9]+)-(?P<pos>\d+)", self.query_more),
            ("POST", rf"{v}/composite", self.composite),
            ("POST", rf"{v}/composite/batch", self.composite_batch),
            ("POST", rf"{v}/composite/sobjects", self.collection_create),
            ("PATCH", rf"{v}/composite/sobjects", self.collection_update),
            ("PATCH", rf"{v}/composite/sobjects/{obj}/(?P<ext>[A-Za-z0-9_]+)", self.collection_upsert),
            ("DELETE", rf"{v}/composite/sobjects", self.collection_delete),
            ("GET", rf"{v}/composite/sobjects/{obj}", self.collection_retrieve),
            *self.bulk.routes(v),
        ]
        self._routes = [_Route(m, re.compile(p + r"/?$"), h) for m, p, h in table]

    # --- dispatch -------------------------------------------------------------------------
    def handle(self, call: Call) -> Response:
        """Route `call` to its resource; ApiError becomes Salesforce's error body."""
        path = call.path.strip("/")
        if path == "":
            return 200, [{"label": f"API {v}", "url": f"/services/data/v{v}", "version": v}
                         for v in API_VERSIONS], {}
        allowed = []
        try:
            for route in self._routes:
                match = route.pattern.match(path)
                if not match:
                    continue
                if route.method != call.method:
                    allowed.append(route.method)
                    continue
                groups = match.groupdict()
                if groups.get("version") not in API_VERSIONS:
                    raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
                return route.handler(call, **groups)
            if allowed:
                raise ApiError(405, "METHOD_NOT_ALLOWED",
                               f"HTTP Method '{call.method}' not allowed. Allowed are {','.join(sorted(set(allowed)))}")
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        except ApiError as error:
            return error.status, error.body(), {}

    def _object(self, name: str) -> ObjectDef:
        obj = self.schema.get(name)
        if obj is None:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return obj

    @staticmethod
    def _url(version: str, obj: ObjectDef, record_id: str) -> str:
        return f"/services/data/v{version}/sobjects/{obj.name}/{record_id}"

    def _record_json(self, version: str, obj: ObjectDef, record: Record, names: list[str] | None = None) -> dict:
        out: dict[str, Any] = {"attributes": {"type": obj.name, "url": self._url(version, obj, record["Id"])}}
        for name in names or obj.fields:
            out[name] = to_json(record.get(name))
        return out

    # --- discovery ------------------------------------------------------------------------
    def resources(self, call: Call, version: str) -> Response:
        """The resource map of one API version."""
        base = f"/services/data/v{version}"
        names = ("sobjects", "query", "queryAll", "composite", "limits", "search", "recent", "tooling")
        return 200, {name: f"{base}/{name}" for name in names}, {}

    def get_limits(self, call: Call, version: str) -> Response:
        """Org limits: DailyApiRequests and friends."""
        return 200, self.limits(), {}

    def _object_summary(self, obj: ObjectDef, version: str, language: str) -> dict[str, Any]:
        base = f"/services/data/v{version}/sobjects/{obj.name}"
        return {
            "name": obj.name, "label": obj.label(language), "labelPlural": obj.label(language, plural=True),
            "keyPrefix": obj.prefix, "custom": False, "createable": True, "updateable": True, "deletable": True,
            "queryable": True, "retrieveable": True, "searchable": True, "undeletable": True,
            "replicateable": True, "triggerable": True, "layoutable": True,
            "urls": {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"},
        }

    def describe_global(self, call: Call, version: str) -> Response:
        """The global describe: every object the org serves."""
        return 200, {"encoding": "UTF-8", "maxBatchSize": MAX_COLLECTION,
                     "sobjects": [self._object_summary(o, version, call.language)
                                  for o in self.schema.objects.values()]}, {}

    def object_info(self, call: Call, version: str, obj: str) -> Response:
        """Basic information about one object."""
        o = self._object(obj)
        return 200, {"objectDescribe": self._object_summary(o, version, call.language), "recentItems": []}, {}

    def describe(self, call: Call, version: str, obj: str) -> Response:
        """The full describe of one object: fields, types, labels, picklists, references."""
        o = self._object(obj)
        body = self._object_summary(o, version, call.language)
        body["fields"] = [describe_field(f, call.language) for f in o.fields.values()]
        body["childRelationships"] = [
            {"childSObject": child.name, "field": f.name, "relationshipName": None, "cascadeDelete": False}
            for child in self.schema.objects.values() for f in child.fields.values()
            if f.type == "reference" and o.name in f.reference_to and f.name not in ("CreatedById", "LastModifiedById")
        ]
        return 200, body, {}

    # --- records --------------------------------------------------------------------------
    def create(self, call: Call, version: str, obj: str) -> Response:
        """POST sobjects/X: 201 {id, success, errors}."""
        o = self._object(obj)
        record = self.store.create(o, _body_dict(call.body), call.user_id)
        return 201, {"id": record["Id"], "success": True, "errors": []}, {}

    def retrieve(self, call: Call, version: str, obj: str, rid: str) -> Response:
        """GET sobjects/X/Id[?fields=a,b]."""
        o = self._object(obj)
        if ids.normalize(rid) is None and len(rid) not in (15, 18):
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        record = self.store.live(o, rid)
        return 200, self._record_json(version, o, record, self._field_list(o, call.params.get("fields"))), {}

    def _field_list(self, o: ObjectDef, raw: str | None) -> list[str] | None:
        if not raw:
            return None
        names = []
        for name in raw.split(","):
            fdef = o.field(name.strip())
            if fdef is None:
                raise ApiError(400, "INVALID_FIELD", f"No such column '{name.strip()}' on entity '{o.name}'.")
            names.append(fdef.name)
        return names

    def update(self, call: Call, version: str, obj: str, rid: str) -> Response:
        """PATCH sobjects/X/Id: 204."""
        o = self._object(obj)
        self.store.update(o, rid, _body_dict(call.body), call.user_id)
        return 204, None, {}

    def delete(self, call: Call, version: str, obj: str, rid: str) -> Response:
        """DELETE sobjects/X/Id: 204 (the record goes to the recycle bin)."""
        o = self._object(obj)
        self.store.delete(o, rid, call.user_id)
        return 204, None, {}

    def _external_field(self, o: ObjectDef, ext: str) -> Any:
        fdef = o.field(ext)
        if fdef is None or not (fdef.external_id or fdef.name == "Id"):
            raise ApiError(404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {ext}")
        return fdef

    def retrieve_by_external(self, call: Call, version: str, obj: str, ext: str, value: str) -> Response:
        """GET sobjects/X/ExtField__c/value."""
        o = self._object(obj)
        fdef = self._external_field(o, ext)
        record_id = value if fdef.name == "Id" else self.store.find_unique(o, fdef, value)
        record = self.store.live(o, record_id or "")
        return 200, self._record_json(version, o, record, self._field_list(o, call.params.get("fields"))), {}

    def upsert_one(self, o: ObjectDef, ext: str, value: str, body: dict[str, Any], user_id: str) -> tuple[Record, bool]:
        """Create or update the record of `o` whose external id `ext` is `value`; return (record, created)."""
        fdef = self._external_field(o, ext)
        body = {k: v for k, v in body.items() if k != "attributes"}
        given = next((v for k, v in body.items() if k.lower() == fdef.name.lower()), None)
        if given is not None and str(given) != value:
            raise ApiError(400, "INVALID_FIELD", f"The value of {fdef.name} in the URL and body differ", [fdef.name])
        if fdef.name == "Id":
            if not value:
                return self.store.create(o, body, user_id), True
            return self.store.update(o, value, {k: v for k, v in body.items() if k.lower() != "id"}, user_id), False
        existing = self.store.find_unique(o, fdef, value)
        found = self.store.get(existing)  # None when existing is None
        if found is None or found["IsDeleted"]:
            existing = None
        if existing is None:
            return self.store.create(o, {**body, fdef.name: value}, user_id), True
        rest = {k: v for k, v in body.items() if k.lower() != fdef.name.lower()}
        return self.store.update(o, existing, rest, user_id), False

    def upsert(self, call: Call, version: str, obj: str, ext: str, value: str) -> Response:
        """PATCH sobjects/X/ExtField__c/value: 201 when created, 200 when updated (API 46.0+)."""
        o = self._object(obj)
        record, created = self.upsert_one(o, ext, value, _body_dict(call.body), call.user_id)
        body = {"id": record["Id"], "success": True, "errors": [], "created": created}
        return (201 if created else 200), body, {}

    # --- change APIs ----------------------------------------------------------------------
    def _window(self, call: Call) -> tuple[datetime, datetime]:
        try:
            start = parse_datetime(call.params["start"])
            end = parse_datetime(call.params["end"])
        except (KeyError, ValueError):
            raise ApiError(400, "MALFORMED_QUERY", "start and end must be ISO 8601 dateTimes") from None
        # Salesforce works in whole minutes here: seconds are dropped from both ends, and the start
        # must come before the end (stricter than a real org might be about an empty window).
        start = start.replace(second=0, microsecond=0)
        end = end.replace(second=0, microsecond=0)
        now = self.store.now()
        if start >= end:
            raise ApiError(400, "INVALID_REPLICATION_DATE", "start date must be before end date")
        if start < now - timedelta(days=30):
            raise ApiError(400, "INVALID_REPLICATION_DATE", "startDate cannot be more than 30 days ago")
        # Changes are listed up to the org's current whole minute at most.
        return start, min(end, now.replace(second=0, microsecond=0))

    def updated(self, call: Call, version: str, obj: str) -> Response:
        """GET sobjects/X/updated?start&end: ids whose SystemModstamp falls in the window.

        `latestDateCovered` never passes the org's own time or the start of a transaction still open
        (devorg.late): a client that starts its next window there misses nothing.
        """
        o = self._object(obj)
        start, end = self._window(call)
        with self.store.lock:
            found = [r["Id"] for r in self.store.rows(o) if start <= r["SystemModstamp"] < end]
            covered = self.store.safe_point(end)
        if len(found) > 600_000:
            raise ApiError(400, "EXCEEDED_ID_LIMIT", "too many ids: narrow the window")
        return 200, {"ids": found, "latestDateCovered": format_datetime(covered)}, {}

    def deleted(self, call: Call, version: str, obj: str) -> Response:
        """GET sobjects/X/deleted?start&end: deletedRecords, earliestDateAvailable, latestDateCovered."""
        o = self._object(obj)
        start, end = self._window(call)
        self.purge_expired()
        with self.store.lock:
            found = [{"id": rid, "deletedDate": format_datetime(when)}
                     for rid, when in self.store.deleted_at.items()
                     if start <= when < end and rid in self.store.by_object[o.name]]
            # The last physical delete: a window starting at or before it may have missed deletes.
            # Never purged: the log reaches back to the recycle bin's horizon (or the window's start,
            # if that is older), never to a made-up moment at the start itself.
            horizon = self.store.now() - timedelta(days=RECYCLE_BIN_DAYS)
            earliest = self.store.purged_at or min(start, horizon)
            covered = self.store.safe_point(end)
        # earliestDateAvailable keeps its seconds: a purge later in the minute a window starts in
        # must still show as later than that start.
        body: dict[str, Any] = {"deletedRecords": found, "earliestDateAvailable": format_datetime(earliest),
                                "latestDateCovered": format_datetime(covered)}
        return 200, body, {}

    def purge_expired(self) -> None:
        """Empty the recycle bin of records deleted more than 15 days ago, as Salesforce does."""
        horizon = self.store.now() - timedelta(days=RECYCLE_BIN_DAYS)
        if any(when < horizon for when in list(self.store.deleted_at.values())):
            self.store.empty_recycle_bin(before=horizon)

    # --- query ----------------------------------------------------------------------------
    def query(self, call: Call, version: str, endpoint: str) -> Response:
        """GET query|queryAll?q=SOQL: the first page and a nextRecordsUrl when more remain."""
        text = call.params.get("q")
        if text is None:
            raise ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
        include_deleted = endpoint == "queryAll"
        if include_deleted:
            self.purge_expired()
        with self.store.lock:
            query = soql.parse(text, self.schema, self.store.now(), self.tz)
            rows = self.store.rows(query.obj, include_deleted=include_deleted)
            matched = soql.evaluate(query, rows, self.store.get)
            if query.count_only:
                return 200, {"totalSize": len(matched), "done": True, "records": []}, {}
            # The cursor keeps the rendered views of this moment: later pages show the same snapshot.
            views = self.store.views
            snapshot = [views[r["Id"]] for r in matched]
            if query.select and any(p.hops for p in query.select):
                parents = _parent_views(query, matched, self.store)
            else:
                parents = {}
        cursor = Cursor(snapshot, query, _batch_size(call.headers), include_deleted, version, parents=parents,
                        user_id=call.user_id)
        return 200, self._page(cursor, endpoint, None), {}

    def query_more(self, call: Call, version: str, endpoint: str, cursor: str, pos: str) -> Response:
        """GET query/{cursor}-{position}: the next page of an open query."""
        now = self.store.now()
        with self._cursor_lock:
            open_cursor = self.cursors.get(cursor)
            if open_cursor is not None and open_cursor.touched is not None and now - open_cursor.touched >= CURSOR_IDLE:
                del self.cursors[cursor]  # 15 minutes without a page: expired
                open_cursor = None
        if open_cursor is None or int(pos) != open_cursor.position or open_cursor.user_id != call.user_id:
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return 200, self._page(open_cursor, endpoint, cursor), {}

    def _page(self, cursor: Cursor, endpoint: str, cursor_id: str | None) -> dict[str, Any]:
        start = cursor.position
        size = self.rng.randint(1, cursor.batch) if self.short_pages else cursor.batch
        page = cursor.records[start:start + size]
        cursor.position = start + len(page)
        body: dict[str, Any] = {"totalSize": len(cursor.records), "done": cursor.position >= len(cursor.records)}
        cursor.touched = self.store.now()
        if not body["done"]:
            with self._cursor_lock:
                if cursor_id is None:
                    cursor_id = ids.CURSOR_PREFIX + secrets.token_hex(8)[:15]
                    self.cursors[cursor_id] = cursor
                    self._release_old_cursors(cursor.user_id)
            body["nextRecordsUrl"] = f"/services/data/v{cursor.version}/{endpoint}/{cursor_id}-{cursor.position}"
        elif cursor_id is not None:
            with self._cursor_lock:
                self.cursors.pop(cursor_id, None)
        body["records"] = self.render(cursor.query, page, cursor.version, cursor.parents.get)
        return body

    def _release_old_cursors(self, user_id: str) -> None:
        """Keep each user's 10 newest cursors (and 200 in all); the caller holds `_cursor_lock`."""
        mine = [cid for cid, c in self.cursors.items() if c.user_id == user_id]
        for cid in mine[:-CURSORS_PER_USER]:
            del self.cursors[cid]
        while len(self.cursors) > _OPEN_CURSORS:
            self.cursors.popitem(last=False)

    def render(self, query: soql.Query, views: list[dict[str, Any]], version: str,
               lookup: Callable[[str], dict[str, Any] | None]) -> list[dict[str, Any]]:
        """Query result records from rendered views: attributes, selected fields, nested parents."""
        obj_name = query.obj.name
        prefix = f"/services/data/v{version}/sobjects/"
        url = f"{prefix}{obj_name}/"
        plain = [p.final_name for p in query.select if not p.hops]
        related = [p for p in query.select if p.hops]
        out = []
        for view in views:
            row: dict[str, Any] = {"attributes": {"type": obj_name, "url": url + view["Id"]}}
            for name in plain:
                row[name] = view[name]
            for path in related:
                self._render_path(row, view, path, lookup, prefix)
            out.append(row)
        return out

    def _render_path(self, row: dict[str, Any], record: Record, path: soql.FieldPath,
                     lookup: Callable[[str], Record | None], prefix: str) -> None:
        target: dict[str, Any] = row
        current: Record | None = record
        for hop, name in zip(path.hops, path.names, strict=False):
            parent_id = current.get(hop.name) if current else None
            parent = lookup(parent_id) if parent_id else None
            if parent is None:
                target.setdefault(name, None)
                return
            nested = target.get(name)
            if nested is None:
                parent_obj = self.schema.object_of_id(parent["Id"])
                type_name = parent_obj.name if parent_obj else ""
                nested = {"attributes": {"type": type_name, "url": f"{prefix}{type_name}/{parent['Id']}"}}
                target[name] = nested
            target, current = nested, parent
        target[path.final_name] = current.get(path.final_name) if current else None

    # --- sObject Collections --------------------------------------------------------------
    def _collection(self, call: Call, operation: Callable[[Any], tuple[Record, bool | None]],
                    records: list[Any], all_or_none: bool) -> Response:
        if len(records) > MAX_COLLECTION:
            raise ApiError(400, "EXCEEDED_ID_LIMIT",
                           f"record limit reached. cannot submit more than {MAX_COLLECTION} records into this call")
        results: list[dict[str, Any]] = []
        failed = False

        def run_all() -> None:
            nonlocal failed
            for item in records:
                try:
                    with self.store.savepoint():
                        record, created = operation(item)
                    result: dict[str, Any] = {"id": record["Id"], "success": True, "errors": []}
                    if created is not None:
                        result["created"] = created
                except ApiError as error:
                    failed = True
                    result = {"id": _item_id(item), "success": False, "errors": [error.collection_error()]}
                results.append(result)
            if failed and all_or_none:
                raise _RolledBack

        try:
            with self.store.transaction():
                run_all()
        except _RolledBack:
            rolled = {"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK", "message": "Record rolled back because "
                      "not all records were valid and the request was using AllOrNone header", "fields": []}
            for result in results:
                if result["success"]:
                    result.update(id=None, success=False, errors=[rolled])
                    result.pop("created", None)
                else:
                    result["id"] = None
        return 200, results, {}

    def collection_create(self, call: Call, version: str) -> Response:
        """POST composite/sobjects: create up to 200 records of any objects."""
        body = _body_dict(call.body)
        records = body.get("records") or []

        def create(item: dict[str, Any]) -> tuple[Record, None]:
            o = self._typed_object(item)
            if "Id" in item or "id" in item:
                raise ApiError(400, "INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
            return self.store.create(o, item, call.user_id), None

        return self._collection(call, create, records, bool(body.get("allOrNone")))

    def collection_update(self, call: Call, version: str) -> Response:
        """PATCH composite/sobjects: update up to 200 records by Id."""
        body = _body_dict(call.body)

        def update(item: dict[str, Any]) -> tuple[Record, None]:
            o = self._typed_object(item)
            record_id = item.get("Id") or item.get("id")
            if not record_id:
                raise ApiError(400, "MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
            rest = {k: v for k, v in item.items() if k.lower() != "id"}
            return self.store.update(o, record_id, rest, call.user_id), None

        return self._collection(call, update, body.get("records") or [], bool(body.get("allOrNone")))

    def collection_upsert(self, call: Call, version: str, obj: str, ext: str) -> Response:
        """PATCH composite/sobjects/X/ExtField__c: upsert up to 200 records by external id."""
        o = self._object(obj)
        body = _body_dict(call.body)

        def upsert(item: dict[str, Any]) -> tuple[Record, bool]:
            typed = self._typed_object(item)
            if typed is not o:
                raise ApiError(400, "INVALID_TYPE", f"record type {typed.name} does not match {o.name}")
            value = next((v for k, v in item.items() if k.lower() == ext.lower()), None)
            if value in (None, ""):
                raise ApiError(400, "MISSING_ARGUMENT", f"{ext} not specified", [ext])
            return self.upsert_one(o, ext, str(value), item, call.user_id)

        return self._collection(call, upsert, body.get("records") or [], bool(body.get("allOrNone")))

    def collection_delete(self, call: Call, version: str) -> Response:
        """DELETE composite/sobjects?ids=a,b&allOrNone=true."""
        raw_ids = [i for i in call.params.get("ids", "").split(",") if i]
        all_or_none = call.params.get("allOrNone", "false").lower() == "true"

        def delete(record_id: str) -> tuple[Record, None]:
            o = self.schema.object_of_id(record_id)
            if o is None or ids.normalize(record_id) is None:
                raise ApiError(400, "MALFORMED_ID", f"malformed id {record_id}")
            return self.store.delete(o, record_id, call.user_id), None

        return self._collection(call, delete, raw_ids, all_or_none)

    def collection_retrieve(self, call: Call, version: str, obj: str) -> Response:
        """GET composite/sobjects/X?ids=a,b&fields=c,d: records or null per id."""
        o = self._object(obj)
        names = self._field_list(o, call.params.get("fields"))
        if not names:
            raise ApiError(400, "MISSING_ARGUMENT", "fields is required", ["fields"])
        out: list[Any] = []
        for record_id in [i for i in call.params.get("ids", "").split(",") if i]:
            record = self.store.get(ids.normalize(record_id) or "")
            ok = record is not None and not record["IsDeleted"] and self.schema.object_of_id(record["Id"]) is o
            out.append(self._record_json(version, o, record, names) if ok and record else None)
        return 200, out, {}

    def _typed_object(self, item: Any) -> ObjectDef:
        if not isinstance(item, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "each record must be a JSON object")
        type_name = (item.get("attributes") or {}).get("type")
        if not type_name:
            raise ApiError(400, "INVALID_TYPE", "Must send a concrete entity type.")
        o = self.schema.get(type_name)
        if o is None:
            raise ApiError(400, "INVALID_TYPE", f"sObject type '{type_name}' is not supported.")
        return o

    # --- composite ------------------------------------------------------------------------
    def composite(self, call: Call, version: str) -> Response:
        """POST composite: up to 25 subrequests with @{ref.field} references, optionally allOrNone."""
        body = _body_dict(call.body)
        subrequests = _subrequests(body, "compositeRequest")
        queries = sum(1 for s in subrequests if isinstance(s, dict) and _QUERY_OPERATION.search(
            str(s.get("url", "")).partition("?")[0]))
        if queries > MAX_COMPOSITE_QUERIES:
            raise ApiError(400, "LIMIT_EXCEEDED", "Maximum number of query operations (query, queryAll, query "
                           f"more) and sObject Collections in a composite request is {MAX_COMPOSITE_QUERIES}")
        # JSON values until checked just below to be unique names.
        refs: list[Any] = [s.get("referenceId") if isinstance(s, dict) else None for s in subrequests]
        if any(not r or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", r) for r in refs) or len(set(refs)) != len(refs):
            raise ApiError(400, "INVALID_INPUT", "every subrequest needs a unique alphanumeric referenceId")
        all_or_none = bool(body.get("allOrNone"))
        results: list[dict[str, Any]] = []
        bodies: dict[str, Any] = {}
        halted = {"errorCode": "PROCESSING_HALTED",
                  "message": "The transaction was rolled back since another operation in the same transaction failed."}

        def run_all() -> None:
            for sub, ref in zip(subrequests, refs, strict=True):
                try:
                    status, out, headers = self._subrequest(call, sub, bodies)
                except ApiError as error:
                    status, out, headers = error.status, error.body(), {}
                if status < 300:
                    bodies[ref] = out
                results.append({"body": out, "httpHeaders": headers, "httpStatusCode": status, "referenceId": ref})
                if status >= 300 and all_or_none:
                    raise _RolledBack

        try:
            with self.store.transaction():
                run_all()
        except _RolledBack:
            failed_ref = results[-1]["referenceId"]
            for result in results:
                if result["referenceId"] != failed_ref:
                    result.update(body=[halted], httpHeaders={}, httpStatusCode=400)
            for ref in refs[len(results):]:
                results.append({"body": [halted], "httpHeaders": {}, "httpStatusCode": 400, "referenceId": ref})
        return 200, {"compositeResponse": results}, {}

    def composite_batch(self, call: Call, version: str) -> Response:
        """POST composite/batch: up to 25 independent subrequests; each counts as one API call (devorg.server)."""
        body = _body_dict(call.body)
        requests = _subrequests(body, "batchRequests")
        results: list[dict[str, Any]] = []
        halted = False
        for sub in requests:
            if halted:
                results.append({"statusCode": 412, "result": [{"errorCode": "BATCH_PROCESSING_HALTED",
                                                               "message": "Batch processing halted per request"}]})
                continue
            if not isinstance(sub, dict):
                raise ApiError(400, "JSON_PARSER_ERROR", "each batch request must be a JSON object")
            url = "/services/data/" + str(sub.get("url", "")).lstrip("/").removeprefix("services/data/")
            try:
                status, out, _ = self._subrequest(call, {"method": sub.get("method"), "url": url,
                                                         "body": sub.get("richInput")}, {})
            except ApiError as error:
                status, out = error.status, error.body()
            results.append({"statusCode": status, "result": out})
            halted = status >= 400 and bool(body.get("haltOnError"))
        return 200, {"hasErrors": any(r["statusCode"] >= 400 for r in results), "results": results}, {}

    def _subrequest(self, call: Call, sub: dict[str, Any], bodies: dict[str, Any]) -> Response:
        method = str(sub.get("method", "")).upper()
        url = _resolve_refs(str(sub.get("url", "")), bodies)
        path, _, query = url.partition("?")
        if not path.startswith("/services/data/"):
            raise ApiError(400, "INVALID_INPUT", f"subrequest url must start with /services/data/: {url}")
        params = {}
        for pair in filter(None, query.split("&")):
            key, _, value = pair.partition("=")
            params[unquote_plus(key)] = unquote_plus(value)
        sub_path = path.removeprefix("/services/data/")
        if re.match(r"v\d+\.\d/composite(/|$)", sub_path.strip("/")) and not sub_path.strip("/").endswith("sobjects"):
            raise ApiError(400, "INVALID_INPUT", "composite requests cannot be nested")
        sub_body = _resolve_refs(sub.get("body"), bodies)
        sub_headers = {**call.headers, **{str(k): str(v) for k, v in (sub.get("httpHeaders") or {}).items()}}
        status, out, headers = self.handle(Call(method, sub_path, params, sub_body, sub_headers,
                                                call.user_id, call.language))
        if status == 201 and isinstance(out, dict) and "id" in out:
            headers = {"Location": f"{path.rstrip('/')}/{out['id']}"}
        return status, out, headers


def _parent_views(query: soql.Query, matched: list[Record], store: Store) -> dict[str, dict[str, Any]]:
    """Views of every record the selected relationship paths reach from `matched` (the snapshot)."""
    parents: dict[str, dict[str, Any]] = {}
    for path in query.select:
        current = matched
        for hop in path.hops:
            reached = []
            for record in current:
                parent_id = record.get(hop.name)
                parent = store.by_id.get(parent_id) if parent_id else None
                if parent is not None:
                    parents[parent["Id"]] = store.views[parent["Id"]]
                    reached.append(parent)
            current = reached
    return parents


class _RolledBack(Exception):
    """Raised inside a transaction to roll back an allOrNone request."""


_REF_RE = re.compile(r"@\{([A-Za-z][A-Za-z0-9_]*)((?:\.[A-Za-z0-9_]+|\[\d+\])*)\}")


def _lookup_ref(match: re.Match[str], bodies: dict[str, Any]) -> Any:
    ref, rest = match.group(1), match.group(2)
    if ref not in bodies:
        raise ApiError(400, "PROCESSING_HALTED", f"Invalid reference specified. No value for {match.group(0)[2:-1]} "
                       f"found in {ref}. Provided referenceId ('{ref}') might be invalid or not found.")
    value = bodies[ref]
    for step in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", rest):
        try:
            value = value[step[0]] if step[0] else value[int(step[1])]
        except (KeyError, IndexError, TypeError):
            raise ApiError(400, "PROCESSING_HALTED", f"Invalid reference specified. No value for "
                           f"{match.group(0)[2:-1]} found in {ref}.") from None
    return value


def _resolve_refs(value: Any, bodies: dict[str, Any]) -> Any:
    """Replace @{ref.path} references in strings (whole-string references keep the value's type)."""
    if isinstance(value, str):
        whole = _REF_RE.fullmatch(value)
        if whole:
            return _lookup_ref(whole, bodies)
        return _REF_RE.sub(lambda m: str(_lookup_ref(m, bodies)), value)
    if isinstance(value, dict):
        return {k: _resolve_refs(v, bodies) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_refs(v, bodies) for v in value]
    return value


def _body_dict(body: Any) -> dict[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
    return body



def _subrequests(body: dict[str, Any], key: str) -> list[Any]:
    """The non-empty list of subrequests under `key`, at most 25 of them (composite and composite/batch)."""
    subrequests = body.get(key)
    if not isinstance(subrequests, list) or not subrequests:
        raise ApiError(400, "JSON_PARSER_ERROR", f"{key} is required")
    if len(subrequests) > MAX_COMPOSITE:
        raise ApiError(400, "LIMIT_EXCEEDED", f"Maximum number of subrequests is {MAX_COMPOSITE}")
    return subrequests

def _item_id(item: Any) -> str | None:
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        return item.get("Id") or item.get("id")
    return None


def _batch_size(headers: dict[str, str]) -> int:
    """The page size asked for with `Sforce-Query-Options: batchSize=N` (200–2,000), default 2,000."""
    raw = next((v for k, v in headers.items() if k.lower() == "sforce-query-options"), "")
    match = re.search(r"batchSize\s*=\s*(\d+)", raw)
    if not match:
        return MAX_BATCH
    return max(MIN_BATCH, min(MAX_BATCH, int(match.group(1))))

