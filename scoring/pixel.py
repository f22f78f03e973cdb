"""The tracking pixel's hot path: anonymous page views answered before Flask.

A customer's site sends one `/t/p.gif` per page view, so this is the busiest request tsunagi
serves. Through Flask each one cost about 1.3 ms of CPU, half of it the framework (request
context, session and locale handling, after-request hooks) for a request that needs none of it.
This WSGI middleware answers the anonymous hits itself: the same checks as the view
(`tracking.accepted_page_view`), the row committed before the answer (a page view we answer is
stored; concurrent hits share one INSERT, see `scoring.group_commit`), and the same GIF and
headers. A hit whose batch could not be stored is answered 503. Hits carrying a person token
(`p`, from a tracked mail link) go on to the Flask view, which also links the visitor to the person.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from flask import Flask

from config import settings_of
from db import get_db
from scoring import tracking
from scoring.group_commit import PageViewNotStored, PageViewWriter

PATH = "/t/p.gif"
# The smallest transparent GIF (1×1); answered to every pixel request, tracked or not.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
HEADERS = [
    ("Content-Type", "image/gif"), ("Content-Length", str(len(PIXEL))),
    ("Cache-Control", "no-store, max-age=0"), ("Pragma", "no-cache"),
    ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "same-origin"),
]
UNAVAILABLE_HEADERS = [("Content-Length", "0"), ("Cache-Control", "no-store"), ("Retry-After", "5")]


class PixelFastPath:
    """WSGI middleware: anonymous GET /t/p.gif answered here; every other request goes to `wsgi_app`."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], app: Flask) -> None:
        self.wsgi_app = wsgi_app
        self.app = app
        database = get_db(app)  # db's init_app runs before scoring's
        self.writer = PageViewWriter(database)
        database.on_dispose(self.writer.close)

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

        row = tracking.accepted_page_view(args, header, settings_of(self.app).tracking_honour_dnt)
        if row is not None:
            try:
                self.writer.store(row)
            except PageViewNotStored:  # logged once per failed batch by the writer
                start_response("503 Service Unavailable", UNAVAILABLE_HEADERS)
                return []
        start_response("200 OK", HEADERS)
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [PIXEL]
