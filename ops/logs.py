"""Structured logging for every process: JSON lines in production, readable lines in debug mode.

Every line carries the time (UTC, ISO 8601), the level, the process kind (web, worker, clock, cli),
the logger and the message, plus `request_id` inside a web request and `job_id` / `source` while a
worker runs a job or a work source. Gunicorn's access log goes through the same formatter
(ops.gunicorn.AccessLogger), so one parser reads every line a deployment writes.

Nothing happens at import: the process entry points call `configure_logging` (create_app does it
for every process not under tests; the worker, the clock and gunicorn name their kind first).
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# What the current line is about; set by the web request hooks and the worker loop.
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("tsunagi_request_id", default=None)
job_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("tsunagi_job_id", default=None)
source_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("tsunagi_work_source", default=None)

_state: dict[str, Any] = {"kind": None}
# Libraries that would drown our lines: aiosmtpd ("mail.log") echoes every mail line, urllib3
# every connection, Faker every locale lookup.
CHATTY_LOGGERS = ("mail.log", "urllib3", "faker", "asyncio", "apscheduler", "alembic.runtime.plugins")
# LogRecord's own attributes; anything else on a record came from `extra=` and is logged too.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


def set_process_kind(kind: str) -> None:
    """Name this process in every line from now on (web, worker, clock, release, cli)."""
    _state["kind"] = kind


def guess_process_kind(argv: list[str]) -> str:
    """The kind a command line starts, for lines logged before the command itself runs."""
    words = [word for word in argv[1:] if not word.startswith("-")]
    pairs = {("work", "worker"): "worker", ("work", "clock"): "clock", ("config", "check"): "release",
             ("db", "upgrade"): "release"}
    for first, second in itertools.pairwise(words):
        if (first, second) in pairs:
            return pairs[(first, second)]
    return "web" if argv and Path(argv[0]).name == "gunicorn" else "cli"


def process_kind() -> str:
    """The kind named by `set_process_kind`, else guessed from the command line."""
    if _state["kind"] is None:
        _state["kind"] = guess_process_kind(sys.argv)
    return str(_state["kind"])


@contextlib.contextmanager
def bound(**values: str | None) -> Iterator[None]:
    """Within the block, lines carry these context values (request_id, job_id, source)."""
    variables = {"request_id": request_id_var, "job_id": job_id_var, "source": source_var}
    tokens = [(variables[name], variables[name].set(value)) for name, value in values.items()]
    try:
        yield
    finally:
        for variable, token in reversed(tokens):
            variable.reset(token)


class ContextFilter(logging.Filter):
    """Adds process kind, pid and the context values to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate the record; never drops it."""
        record.process_kind = process_kind()
        for name, variable in (("request_id", request_id_var), ("job_id", job_id_var), ("source", source_var)):
            if getattr(record, name, None) is None:
                setattr(record, name, variable.get())
        return True


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, process, pid, logger, message, context, extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON (never raises on odd extras: they are turned into text)."""
        line: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname,
            "process": getattr(record, "process_kind", None) or process_kind(),
            "pid": record.process,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRS and key != "process_kind" and value is not None:
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """Readable lines for development: `12:00:01.234 INFO  worker job=42 mail.sender: message`."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one readable line (plus a traceback when there is one)."""
        context = " ".join(f"{name}={getattr(record, name)}" for name in ("request_id", "job_id", "source")
                           if getattr(record, name, None))
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        kind = getattr(record, "process_kind", None) or process_kind()
        text = f"{stamp} {record.levelname:<7} {kind} {context + ' ' if context else ''}{record.name}: " \
               f"{record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class _OurHandler(logging.StreamHandler):
    """The handler configure_logging installs (a second call replaces it). Without a stream of its
    own it writes to whatever sys.stderr is at the time of each line, as logging's last resort
    does, so a swapped stderr (test capture, a daemonised process) never gets a closed file."""

    def __init__(self, stream: Any = None) -> None:
        super().__init__(stream)
        self._fixed = stream

    @property
    def stream(self) -> Any:
        """The given stream, else the current sys.stderr."""
        return self._fixed if self._fixed is not None else sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        self._fixed = value


def wants_json(log_format: str, debug: bool) -> bool:
    """JSON unless LOG_FORMAT=text, or LOG_FORMAT=auto in debug mode."""
    return log_format == "json" or (log_format == "auto" and not debug)


def make_handler(json_lines: bool, stream: Any = None) -> logging.Handler:
    """A stderr handler with our formatter and context filter."""
    handler = _OurHandler(stream)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    handler.addFilter(ContextFilter())
    return handler


def configure_logging(settings: Any, kind: str | None = None) -> None:
    """Send every logger's lines to stderr in the configured format; safe to call again."""
    if kind:
        set_process_kind(kind)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _OurHandler):
            root.removeHandler(handler)
    root.addHandler(make_handler(wants_json(settings.log_format, settings.debug)))
    root.setLevel(logging.DEBUG if settings.debug else getattr(logging, settings.log_level))
    for chatty in CHATTY_LOGGERS:
        logging.getLogger(chatty).setLevel(logging.WARNING)
    # Gunicorn's own loggers propagate to ours instead of printing in their own format.
    for name in ("gunicorn.error", "gunicorn.access"):
        gunicorn_logger = logging.getLogger(name)
        gunicorn_logger.handlers.clear()
        gunicorn_logger.propagate = True


class _EnvironSettings:
    """The three logging settings read leniently from the environment, for gunicorn's master,
    which configures logging before the settings are checked (a bad value falls back to the default:
    the check that follows names it)."""

    def __init__(self, environ: Any) -> None:
        self.debug = str(environ.get("TSUNAGI_DEBUG", "")).strip().lower() in {"1", "true", "yes", "on"}
        log_format = str(environ.get("LOG_FORMAT", "auto")).strip().lower()
        self.log_format = log_format if log_format in {"auto", "json", "text"} else "auto"
        level = str(environ.get("LOG_LEVEL", "INFO")).strip().upper()
        self.log_level = level if level in {"DEBUG", "INFO", "WARNING", "ERROR"} else "INFO"


def configure_from_environ(kind: str, environ: Any = None) -> None:
    """`configure_logging` from the environment alone (no SECRET_KEY or database needed)."""
    import os

    configure_logging(_EnvironSettings(os.environ if environ is None else environ), kind)
