"""A real worker process (`work.worker.run_worker`, as `flask work worker` runs it) for kill tests.

    python -m tests.automations.broadcast_worker INSTANCE_DIR    (settings from the environment)
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    """Work until SIGTERM (or until killed)."""
    from app import create_app
    from work.worker import run_worker

    app = create_app({"environ": dict(os.environ), "instance_path": sys.argv[1]})
    print("ready", flush=True)
    run_worker(app, worker_id="doomed-worker")


if __name__ == "__main__":
    main()
