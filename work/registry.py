"""Which job kinds and work sources the worker knows, filled in by each package's init_app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask

# A job handler returns None, or work.running.CONTINUE to be queued again at once (other values are ignored).
JobHandler = Callable[[dict[str, Any]], object]
# A work source claims a batch of its own due rows for `worker_id` (it picks the batch size),
# processes them and returns how many it processed (0 means "nothing due": the worker may sleep).
# It runs inside an app context.
WorkSource = Callable[[str], int]


@dataclass
class WorkRegistry:
    """Job handlers by kind and the work sources polled by every worker."""

    job_handlers: dict[str, JobHandler] = field(default_factory=dict)
    work_sources: dict[str, WorkSource] = field(default_factory=dict)
    # Polled between every work source: cheap claims of work that answers one person now.
    urgent_sources: dict[str, WorkSource] = field(default_factory=dict)


def _registry(app: Flask) -> WorkRegistry:
    return app.extensions.setdefault("tsunagi.work", WorkRegistry())


def register_job_handler(app: Flask, kind: str, handler: JobHandler) -> None:
    """Run `handler(payload)` inside an app context for every job of `kind`."""
    _registry(app).job_handlers[kind] = handler


def register_work_source(app: Flask, name: str, source: WorkSource) -> None:
    """Poll `source(worker_id)` from every worker loop."""
    _registry(app).work_sources[name] = source


def register_urgent_source(app: Flask, name: str, source: WorkSource) -> None:
    """Poll `source(worker_id)` after every work source of a pass, so a person's follow-up waits
    for one bulk batch, not for a whole pass (it should claim only such work and be cheap when idle)."""
    _registry(app).urgent_sources[name] = source
