"""The dev org's private admin API (`/devorg/api/...`), used by tsunagi's admin page.

It acts as a person in Salesforce (edits are by the "person" user, fire Outbound Messages and cost
no API calls) and drives faults and tokens. Every call needs the header `X-Devorg-Admin-Key` with
the key from connection.json; answers are JSON, errors `{"error": code, "message": text}`.

    GET    /devorg/api/objects                         objects with labels and record counts
    GET    /devorg/api/records/<obj>?search=&offset=&limit=&deleted=1
    POST   /devorg/api/records/<obj>                   create (JSON fields; strings are fine)
    GET    /devorg/api/records/<obj>/<id>              record and field descriptions
    PATCH  /devorg/api/records/<obj>/<id>              update
    DELETE /devorg/api/records/<obj>/<id>              to the recycle bin
    POST   /devorg/api/records/<obj>/<id>/undelete     back from the recycle bin
    GET    /devorg/api/faults | POST (path_regex, kind, count, method, delay) | DELETE
    POST   /devorg/api/expire-tokens
    GET    /devorg/api/outbound                        rules and the delivery log
"""

from __future__ import annotations

import hmac
import json
import re
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from devorg.errors import ApiError
from devorg.schema import ObjectDef, to_json

if TYPE_CHECKING:
    from devorg.org import DevOrg

_SEARCHED = ("Name", "Subject", "Email", "Phone", "MobilePhone", "LastNameKana__c", "FirstNameKana__c",
             "Username", "Company", "Tsunagi_Key__c")


def _reply(status: int, body: Any) -> Response:
    return Response(json.dumps(body, ensure_ascii=False, default=str), status=status,
                    content_type="application/json;charset=UTF-8")


def _error(status: int, code: str, message: str) -> Response:
    return _reply(status, {"error": code, "message": message})


def field_info(obj: ObjectDef) -> list[dict[str, Any]]:
    """The fields of `obj` as the admin page needs them (labels in both languages)."""
    return [{"name": f.name, "label_ja": f.label_ja, "label_en": f.label_en, "type": f.type,
             "length": f.length, "nillable": f.nillable, "createable": f.createable, "updateable": f.updateable,
             "picklist": [{"value": p.value, "label_ja": p.label_ja, "label_en": p.label_en} for p in f.picklist],
             "reference_to": f.reference_to, "custom": f.custom} for f in obj.fields.values()]


def handle(org: DevOrg, request: Request) -> Response:
    """Answer one admin API request."""
    key = request.headers.get("X-Devorg-Admin-Key", "")
    if not hmac.compare_digest(key, org.admin_key):
        return _error(401, "UNAUTHORIZED", "admin key missing or wrong")
    path = request.path.removeprefix("/devorg/api").strip("/")
    try:
        body = request.get_json(silent=True) if request.method in ("POST", "PATCH") else None
        return _route(org, request, path, body or {})
    except ApiError as error:
        return _reply(error.status, {"error": error.code, "message": error.message, "fields": error.fields or []})
    except (KeyError, ValueError) as error:
        return _error(400, "BAD_REQUEST", str(error))


def _route(org: DevOrg, request: Request, path: str, body: dict[str, Any]) -> Response:
    method = request.method
    if path == "objects" and method == "GET":
        return _reply(200, [{"name": o.name, "label_ja": o.label_ja, "label_en": o.label_en,
                             "count": len(org.store.rows(o))} for o in org.schema.objects.values()])
    if path == "faults":
        if method == "POST":
            org.inject_fault(str(body["path_regex"]), str(body["kind"]), count=int(body.get("count", 1)),
                             method=body.get("method") or None, delay=float(body.get("delay", 1.0)))
        elif method == "DELETE":
            org.clear_faults()
        return _reply(200, org.faults.pending())
    if path == "expire-tokens" and method == "POST":
        org.expire_tokens()
        return _reply(200, {"expired": True})
    if path == "outbound" and method == "GET":
        rules = [{"action_id": r.action_id, "name": r.name, "object": r.obj.name, "criteria": r.criteria,
                  "fields": r.fields, "endpoint_url": r.endpoint_url} for r in org.outbound.rules()]
        return _reply(200, {"rules": rules, "log": org.outbound_log()[-100:], "pending": org.outbound.pending()})
    match = re.fullmatch(r"records/([A-Za-z0-9_]+)(?:/([A-Za-z0-9]{15,18}))?(/undelete)?", path)
    if not match:
        return _error(404, "NOT_FOUND", "no such admin resource")
    obj = org.schema.get(match.group(1))
    if obj is None:
        return _error(404, "NOT_FOUND", f"unknown object {match.group(1)}")
    record_id = match.group(2)
    if record_id is None:
        if method == "GET":
            return _list(org, obj, request)
        if method == "POST":
            record = org.store.create(obj, body, org.person_user_id, trusted=True)
            return _reply(201, {"id": record["Id"]})
    elif match.group(3):
        if method == "POST":
            org.undelete(obj.name, record_id)
            return _reply(200, {"id": record_id})
    elif method == "GET":
        found = org.get(obj.name, record_id)
        if found is None:
            return _error(404, "NOT_FOUND", "The requested resource does not exist")
        return _reply(200, {"record": found, "fields": field_info(obj), "label_ja": obj.label_ja,
                            "label_en": obj.label_en})
    elif method == "PATCH":
        org.store.update(obj, record_id, body, org.person_user_id, trusted=True)
        return _reply(200, {"id": record_id})
    elif method == "DELETE":
        org.delete(obj.name, record_id)
        return _reply(200, {"id": record_id})
    return _error(405, "METHOD_NOT_ALLOWED", f"{method} not allowed here")


def _list(org: DevOrg, obj: ObjectDef, request: Request) -> Response:
    search = request.args.get("search", "").strip().casefold()
    offset = max(int(request.args.get("offset", 0)), 0)
    limit = min(max(int(request.args.get("limit", 50)), 1), 500)
    with org.store.lock:
        rows = org.store.rows(obj, include_deleted=request.args.get("deleted") == "1")
    if search:
        rows = [r for r in rows if any(search in str(r.get(name) or "").casefold() for name in _SEARCHED)]
    rows.sort(key=lambda r: r["SystemModstamp"], reverse=True)
    page = [{name: to_json(value) for name, value in r.items()} for r in rows[offset:offset + limit]]
    return _reply(200, {"total": len(rows), "offset": offset, "records": page, "fields": field_info(obj),
                        "label_ja": obj.label_ja, "label_en": obj.label_en})
