"""Gunicorn's logger class: its error and access lines go through ops.logs like every other line."""

from __future__ import annotations

import logging
from typing import Any

from gunicorn.glogging import Logger

from ops.logs import configure_from_environ, request_id_var


class StructuredLogger(Logger):
    """Gunicorn's Logger writing structured lines: one access line per request with its fields."""

    def setup(self, cfg: Any) -> None:
        """Route gunicorn's loggers to the root handler configured from the environment."""
        self.cfg = cfg
        configure_from_environ("web")
        self.error_log.propagate = True
        self.access_log.propagate = True
        self.error_log.setLevel(logging.INFO)
        self.access_log.setLevel(logging.INFO)

    @property
    def access_log_enabled(self) -> bool:
        """Always on: the access line is the request's record."""
        return True

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        """One line per request: method, path, status, bytes, duration, client, request id."""
        headers = dict((str(k).lower(), v) for k, v in (resp.headers or []))
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        fields = {
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "status": int(status) if str(status).isdigit() else status,
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 1),
            "remote_addr": environ.get("REMOTE_ADDR"),
            "user_agent": environ.get("HTTP_USER_AGENT"),
            "request_id": headers.get("x-request-id") or request_id_var.get(),
        }
        message = f"{fields['method']} {fields['path']} {fields['status']}"
        self.access_log.info(message, extra=fields)

    def reopen_files(self) -> None:
        """Nothing to reopen: every line goes to stderr."""

    def close_on_exec(self) -> None:
        """Nothing to mark: no log files."""
