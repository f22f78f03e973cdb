"""ops: what an operator sees of a running tsunagi — logs, request ids, metrics, error reporting.

`init_app` wires them into the web app; the worker and clock call `ops.startup` helpers. See
docs/operations.md.
"""

from __future__ import annotations

import contextlib
import re
import uuid

from flask import Flask, Response, request

from config import settings_of

# A request id from a proxy is kept only when it looks like one (it is written into every log line).
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def init_app(app: Flask) -> None:
    """Logging (outside tests), request ids, Prometheus metrics and Sentry."""
    from ops.logs import configure_logging, process_kind, request_id_var
    from ops.metrics import init_metrics
    from ops.sentry import init_sentry

    settings = settings_of(app)
    if not app.testing:
        # Tests keep pytest's log capture; every real process logs in the configured format.
        configure_logging(settings)
        init_sentry(settings, process_kind())

    @app.before_request
    def _bind_request_id() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.environ["tsunagi.request_id"] = request_id
        request.environ["tsunagi.request_id_token"] = request_id_var.set(request_id)

    @app.after_request
    def _send_request_id(response: Response) -> Response:
        request_id = request.environ.get("tsunagi.request_id")
        if request_id:
            response.headers["X-Request-ID"] = request_id
        return response

    @app.teardown_request
    def _unbind_request_id(_exc: BaseException | None) -> None:
        token = request.environ.pop("tsunagi.request_id_token", None)
        if token is not None:
            # Set in another context (streamed responses): nothing to undo.
            with contextlib.suppress(ValueError):
                request_id_var.reset(token)

    init_metrics(app)
