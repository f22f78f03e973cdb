"""Prometheus metrics: GET /metrics (bearer METRICS_TOKEN), and the counters the processes update.

Two kinds of numbers:

- **Read from the database at scrape time** (the same for every process, so any web node answers
  for the whole deployment): queue depths of every claimable table, the oldest waiting item's age,
  sync lag per object.
- **Counted by the process that did the work**: HTTP requests and their latency, jobs and work
  items (the mail outbox's items are mails) by outcome and duration, Salesforce API calls and
  errors. Gunicorn runs several web processes, so counters use prometheus-client's multiprocess
  mode when PROMETHEUS_MULTIPROC_DIR is set (an empty folder per machine, shared by every process
  there — the Dockerfile and compose.yaml set it); a worker or clock on a machine of its own
  serves its counters on METRICS_PORT instead.

Nothing is created at import: `_metrics()` builds the instruments on first use.
"""

from __future__ import annotations

import functools
import hmac
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, abort, g, request
from flask.globals import app_ctx

import db
from config import settings_of
from db import utcnow

bp = Blueprint("metrics", __name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@functools.cache
def _metrics() -> dict[str, Any]:
    """The process's instruments, created once (in multiprocess mode they live in files)."""
    from prometheus_client import Counter, Histogram

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # a worker dyno or container may start before the web
        Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)

    return {
        "http": Histogram("tsunagi_http_request_duration_seconds", "Web requests by endpoint and status.",
                          ["method", "endpoint", "status"], buckets=LATENCY_BUCKETS),
        "jobs": Counter("tsunagi_jobs_total", "Jobs run by workers, by kind and outcome (done, failed).",
                        ["kind", "outcome"]),
        "job_seconds": Histogram("tsunagi_job_duration_seconds", "Time a job took, by kind.", ["kind"],
                                 buckets=LATENCY_BUCKETS),
        "items": Counter("tsunagi_work_items_total",
                         "Items processed by work sources (mail.outbox: mails sent or failed), by source.",
                         ["source"]),
        "source_errors": Counter("tsunagi_work_source_errors_total", "Work source passes that raised.", ["source"]),
        "sf_calls": Counter("tsunagi_salesforce_calls_total", "Salesforce API calls (retries included).",
                            ["method", "outcome"]),
    }


def observe_request(method: str, endpoint: str, status: int, seconds: float) -> None:
    """Count one web request."""
    _metrics()["http"].labels(method, endpoint, str(status)).observe(seconds)


def observe_job(kind: str, ok: bool, seconds: float) -> None:
    """Count one job a worker ran."""
    _metrics()["jobs"].labels(kind, "done" if ok else "failed").inc()
    _metrics()["job_seconds"].labels(kind).observe(seconds)


def observe_work(source: str, items: int, ok: bool = True) -> None:
    """Count what one pass of a work source processed."""
    if items:
        _metrics()["items"].labels(source).inc(items)
    if not ok:
        _metrics()["source_errors"].labels(source).inc()


def observe_salesforce_call(info: Any) -> None:
    """A salesforce.usage listener: count the call by outcome (ok, client_error, server_error, no_response)."""
    status = info.status
    if status is None:
        outcome = "no_response"
    elif status >= 500:
        outcome = "server_error"
    elif status >= 400:
        outcome = "client_error"
    else:
        outcome = "ok"
    _metrics()["sf_calls"].labels(info.method, outcome).inc()


def mark_process_dead(pid: int) -> None:
    """Multiprocess mode: drop a dead process's live gauges (gunicorn's child_exit hook)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


class DatabaseCollector:
    """Numbers read from the database at scrape time: queue depths, oldest waiting age, sync lag."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[Any]:
        """Yield the gauge families (nothing when the database cannot be read: the scrape still works)."""
        from prometheus_client.core import GaugeMetricFamily

        depth = GaugeMetricFamily("tsunagi_queue_depth", "Rows queued or running, by table.", labels=["queue"])
        lag = GaugeMetricFamily("tsunagi_sync_lag_seconds", "Seconds since the last successful sync, by object.",
                                labels=["object"])
        up = GaugeMetricFamily("tsunagi_database_up", "1 when the database answered this scrape.")
        try:
            with self.app.app_context():
                from web.health import queue_depths

                session = db.session()
                for name, value in queue_depths(session).items():
                    depth.add_metric([name], value)
                for name, seconds in _sync_lag(session).items():
                    lag.add_metric([name], seconds)
            up.add_metric([], 1)
        except Exception:  # a scrape must answer even while the database is down
            up.add_metric([], 0)
        yield from (depth, lag, up)


def _sync_lag(session: Any) -> dict[str, float]:
    from sync import queries

    now = utcnow()
    return {row.object_name: (now - row.last_success_at).total_seconds()
            for row in session.scalars(queries.object_states()) if row.last_success_at}


def registry_for(app: Flask) -> Any:
    """The registry a scrape reads: this process's (or every process's, in multiprocess mode) plus the DB."""
    from prometheus_client import CollectorRegistry, multiprocess
    from prometheus_client import registry as default

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        _metrics()  # counters exist (at 0) before the first event
        registry.register(_ProcessCounters(default.REGISTRY))
    registry.register(DatabaseCollector(app))
    return registry


class _ProcessCounters:
    """This process's own instruments (the default registry), re-exposed in a scrape registry."""

    def __init__(self, source: Any) -> None:
        self.source = source

    def collect(self) -> Iterator[Any]:
        """Everything the default registry collects."""
        yield from self.source.collect()


@bp.route("/metrics")
def metrics_endpoint() -> Response:
    """Prometheus text format; 404 unless METRICS_TOKEN is set, 401 without `Authorization: Bearer <it>`."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    token = settings_of().metrics_token
    if not token:
        abort(404)
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), token.encode()):
        return Response("unauthorized\n", status=401, mimetype="text/plain",
                        headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    body = generate_latest(registry_for(app_ctx.app))
    return Response(body, mimetype=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


def _start_timer() -> None:
    g.tsunagi_started = time.perf_counter()


def _observe(response: Response) -> Response:
    started = g.pop("tsunagi_started", None)
    if started is not None and request.endpoint != "metrics.metrics_endpoint":
        observe_request(request.method, request.endpoint or "unmatched", response.status_code,
                        time.perf_counter() - started)
    return response


def init_metrics(app: Flask) -> None:
    """Register /metrics and the request timer."""
    app.register_blueprint(bp)
    app.before_request(_start_timer)
    app.after_request(_observe)


def serve_process_metrics(port: int) -> None:
    """Worker and clock: serve this process's counters on `port` (METRICS_PORT) in a thread."""
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server
    from prometheus_client import registry as default

    _metrics()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        start_http_server(port, registry=registry)
    else:
        start_http_server(port, registry=default.REGISTRY)


def prepare_multiprocess_dir() -> None:
    """Gunicorn's master, before forking: an empty PROMETHEUS_MULTIPROC_DIR (stale files from a
    previous run would add old counts to the new ones)."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        return
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)
