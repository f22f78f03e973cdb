"""Gunicorn settings for the `web` process, shipped in the wheel: `gunicorn -c python:ops.gunicorn_conf`.

(`gunicorn.conf.py` in a checkout re-exports this module, so a bare `gunicorn "app:create_app()"`
from the project folder reads it too.)

- The master checks the settings and the database before forking any worker, so a bad
  configuration stops gunicorn with one line (`tsunagi: …`, exit status 2).
- Every line, the access log included, is written by ops.logs (JSON in production).
- Prometheus' multiprocess mode: when PROMETHEUS_MULTIPROC_DIR is set, a dead worker's gauges are
  dropped (ops.metrics).
- SIGTERM: workers get `graceful_timeout` to finish the requests in flight.
Flags on the command line win over these.
"""

import os
from typing import Any

bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"
# Japanese operators on phones hold connections open; threads keep slow clients from starving.
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# gunicorn 23+ opens a per-user control socket (~/.gunicorn/gunicorn.ctl) that a second gunicorn
# of the same user (tests, a second checkout) would fight over; nothing of ours uses it.
control_socket_disable = True
logger_class = "ops.gunicorn_logging.StructuredLogger"
accesslog = "-"
# Below the platform's kill timeout (Heroku 30 s, `stop_grace_period` in compose.yaml).
graceful_timeout = int(float(os.environ.get("SHUTDOWN_GRACE_SECONDS", "25")))


def on_starting(server: Any) -> None:
    """Refuse to start on a bad configuration, before any worker forks."""
    from config.preflight import check_process_or_exit
    from ops.logs import set_process_kind
    from ops.metrics import prepare_multiprocess_dir
    from ops.startup import warn_if_demo

    set_process_kind("web")
    warn_if_demo(check_process_or_exit())
    prepare_multiprocess_dir()


def child_exit(server: Any, worker: Any) -> None:
    """Forget a dead worker's live gauges (multiprocess metrics)."""
    from ops.metrics import mark_process_dead

    mark_process_dead(worker.pid)
