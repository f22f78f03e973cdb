"""The tracking pixel's hot path: anonymous page views answered before Flask.

A customer's site sends one `/t/p.gif` per page view, so this is the busiest request tsunagi
serves. Through Flask each one cost about 1.3 ms of CPU, half of it the framework (request
context, session and locale handling, after-request hooks) for a request that needs none of it.
This WSGI middleware answers the anonymous hits itself: the same checks as the view
(`tracking.accepted_page_view`), one INSERT committed before the answer (a page view we answer is
stored), and the same GIF and headers. Hits carrying a person token (`p`, from a tracked mail
link) go on to the Flask view, which also links the visitor to the person.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from flask import Flask
from sqlalchemy import insert

from activity.models import Activity
from db import get_db
from scoring import tracking

PATH = "/t/p.gif"
# The smallest transparent GIF (1×1); answered to every pixel request, tracked or not.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
HEADERS = [
    ("Content-Type", "image/gif"), ("Content-Length", str(len(PIXEL))),
    ("Cache-Control", "no-store, max-age=0"), ("Pragma", "no-cache"),
    ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "same-origin"),
]


class PixelFastPath:
    """WSGI middleware: anonymous GET /t/p.gif answered here; every other request goes to `wsgi_app`."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], app: Flask) -> None:
        self.wsgi_app = wsgi_app
        self.app = app
        self.statement = insert(Activity.__table__)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH or environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return self.wsgi_app(environ, start_response)
        args: dict[str, str] = {}
        for name, value in parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True):
            args.setdefault(name, value)  # the first value wins, as in Flask's request.args
        if args.get("p"):
            return self.wsgi_app(environ, start_response)

        def header(name: str) -> str | None:
            return environ.get("HTTP_" + name.upper().replace("-", "_"))

        row = tracking.accepted_page_view(args, header, self.app.config["TSUNAGI"].tracking_honour_dnt)
        if row is not None:
            self._store(row)
        start_response("200 OK", HEADERS)
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [PIXEL]

    def _store(self, row: dict[str, Any]) -> None:
        database = get_db(self.app)
        if database.is_sqlite:  # SQLite's transactions are begun by db.py's own hooks
            with database.engine.begin() as conn:
                conn.execute(self.statement, row)
            return
        # On PostgreSQL the INSERT is its own transaction in autocommit, durable when it returns:
        # one round trip instead of BEGIN, INSERT, COMMIT.
        with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(self.statement, row)
