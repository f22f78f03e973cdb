"""The dev org's HTTP front: a WSGI app from request to response, served over TLS in a thread.

Every call goes: injected fault? → bearer token (401 INVALID_SESSION_ID) → daily budget (403
REQUEST_LIMIT_EXCEEDED) → `RestApi.handle`. Every answer carries `Sforce-Limit-Info`.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import struct
import threading
import time
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from devorg import adminapi
from devorg.auth import OAuthError
from devorg.bulk import RawBody
from devorg.errors import ApiError
from devorg.rest import Call

if TYPE_CHECKING:
    from devorg.org import DevOrg

log = logging.getLogger(__name__)
_JSON = "application/json;charset=UTF-8"
_FAULT_ERRORS = {
    "503": ApiError(503, "SERVER_UNAVAILABLE", "Service temporarily unavailable (injected fault)"),
    "invalid_session": ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid"),
    "limit_exceeded": ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
}

_BATCH = re.compile(r"v\d+\.\d/composite/batch/?$")


# "In each REST call, the maximum length for the combined URI and headers is 16,384 bytes. A request
# exceeding this limit returns a 431 Request Header Fields Too Large error. If the URI itself exceeds
# this limit, the request returns a 414 URI Too Long error." (Salesforce Help, knowledge article
# 000386264). No errorCode or body is documented for these: the dev org answers plain text, so a
# client cannot lean on a JSON error body there either.
MAX_URI_AND_HEADERS = 16_384


def _request_too_long(request: Request) -> Response | None:
    """414 when the request URI alone is over 16,384 bytes, 431 when URI and headers together are."""
    uri = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.full_path
    uri_bytes = len(uri.encode("latin-1", "replace"))
    if uri_bytes > MAX_URI_AND_HEADERS:
        return Response("URI Too Long", status=414, content_type="text/plain")
    header_bytes = sum(len(k) + len(v) + 4 for k, v in request.headers.items())
    if uri_bytes + header_bytes > MAX_URI_AND_HEADERS:
        return Response("Request Header Fields Too Large", status=431, content_type="text/plain")
    return None


def _json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    if isinstance(body, RawBody):  # Bulk API 2.0 query results are CSV
        response = Response(body.text, status=status, content_type=body.content_type)
    else:
        data = None if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        response = Response(data, status=status, content_type=_JSON if data is not None else None)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


class DevOrgWsgi:
    """The WSGI application of one `DevOrg`."""

    def __init__(self, org: DevOrg) -> None:
        self.org = org

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        try:
            response = self.dispatch(request)
        except ConnectionResetError:
            raise  # an injected reset: the connection is gone, werkzeug drops the request
        except Exception:  # a bug must look like Salesforce's 500, and be logged, not kill the thread
            log.exception("devorg: unhandled error on %s %s", request.method, request.path)
            response = _json_response(500, [{"message": "An unexpected error occurred.",
                                              "errorCode": "UNKNOWN_EXCEPTION"}])
        response.headers["Sforce-Limit-Info"] = f"api-usage={self.org.api_calls}/{self.org.budget.maximum}"
        # The org's own time, which is not the host's: clients take their watermarks from it.
        response.headers["Date"] = format_datetime(self.org.store.now(), usegmt=True)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        """Fault, auth, budget, then the REST resource."""
        path = request.path
        fault = self.org.faults.take(request.method, path)
        if fault is not None:
            if fault.kind == "slow":
                time.sleep(fault.delay)
            elif fault.kind == "reset":
                _reset(request.environ)
                raise ConnectionResetError("devorg: injected connection reset")
            else:
                error = _FAULT_ERRORS[fault.kind]
                return _json_response(error.status, error.body())
        if path.rstrip("/") == "/services/oauth2/token":
            return self.token(request)
        if path.startswith("/devorg/api/"):
            return adminapi.handle(self.org, request)
        if not path.startswith("/services/data"):
            return _json_response(404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])
        too_long = _request_too_long(request)
        if too_long is not None:
            return too_long
        sub_path = path.removeprefix("/services/data").lstrip("/")
        language = self.org.language
        accept = request.headers.get("Accept-Language", "")
        if accept[:2].lower() in ("en", "ja"):
            language = accept[:2].lower()
        if sub_path.strip("/") == "":
            status, body, headers = self.org.rest.handle(Call("GET", "", {}, None, {}, "", language))
            return _json_response(status, body, headers)
        user_id = self.org.auth.user_for(request.headers.get("Authorization"))
        if user_id is None:
            error = _FAULT_ERRORS["invalid_session"]
            return _json_response(401, error.body(), {"WWW-Authenticate": 'Token realm="devorg"'})
        if not self.org.budget.spend(self.org.store.now()):
            error = _FAULT_ERRORS["limit_exceeded"]
            return _json_response(403, error.body())
        body = None
        if request.method in ("POST", "PATCH", "PUT") and request.content_length != 0:
            raw = request.get_data(cache=False)
            if raw.strip():
                try:
                    body = json.loads(raw)
                except ValueError as exc:
                    error = ApiError(400, "JSON_PARSER_ERROR", f"Unexpected character: {exc}")
                    return _json_response(400, error.body())
        if _BATCH.match(sub_path) and isinstance(body, dict) and isinstance(body.get("batchRequests"), list):
            # Composite batch: "Each subrequest counts against rate limits" (unlike composite).
            for _ in body["batchRequests"][1:26]:
                if not self.org.budget.spend(self.org.store.now()):
                    error = _FAULT_ERRORS["limit_exceeded"]
                    return _json_response(403, error.body())
        call = Call(request.method, sub_path, dict(request.args.items()), body, dict(request.headers.items()),
                    user_id, language)
        status, out, headers = self.org.rest.handle(call)
        return _json_response(status, out, headers)

    def token(self, request: Request) -> Response:
        """POST /services/oauth2/token."""
        if request.method != "POST":
            return _json_response(405, {"error": "invalid_request", "error_description": "must use HTTP POST"})
        form = {k: v for k, v in request.form.items()}
        try:
            body = self.org.token_response(form)
        except OAuthError as error:
            return _json_response(error.status, {"error": error.error, "error_description": error.description})
        return _json_response(200, body)


def _reset(environ: dict[str, Any]) -> None:
    """Drop the client's connection with a TCP reset (SO_LINGER 0), sending no answer at all."""
    sock = environ.get("werkzeug.socket")
    if sock is None:
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    raw = socket.socket(fileno=sock.detach()) if hasattr(sock, "detach") else sock
    raw.close()


class _OrgClockHandler(WSGIRequestHandler):
    """Request handler whose `Date` header is the org's (set by DevOrgWsgi), not the host's."""

    def send_response(self, code: int, message: str | None = None) -> None:
        """Status line and Server header only: http.server would add the host's Date."""
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Server", self.version_string())


class _QuietHandler(_OrgClockHandler):
    """Request handler that does not log every request (the hot path of tests and benchmarks)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Log nothing."""


class ServerThread:
    """A threaded HTTPS server for one DevOrg, running in a daemon thread until `stop()`."""

    def __init__(self, org: DevOrg, host: str, port: int, quiet: bool = True) -> None:
        handler = _QuietHandler if quiet else _OrgClockHandler
        self.server: BaseWSGIServer = make_server(host, port, DevOrgWsgi(org), threaded=True,
                                                  request_handler=handler,
                                                  ssl_context=org.certificates.server_context())
        self.port = self.server.server_port
        self._thread = threading.Thread(target=self.server.serve_forever, name="devorg-https", daemon=True)

    def start(self) -> None:
        """Start serving."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
