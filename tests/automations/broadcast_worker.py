"""A real worker process (`work.worker.run_worker`, as `flask work worker` runs it) for kill tests.

    python -m tests.automations.broadcast_worker INSTANCE_DIR    (settings from the environment)
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any


def _pace_chunks(seconds: float) -> None:
    """Pause before each broadcast chunk, so a test can kill the worker mid-broadcast on any machine.

    Without it a fast (or an idle) machine may plan every chunk between two looks of the test.
    """
    from automations import broadcasts

    plan_chunk = broadcasts.plan_chunk

    def paced(*args: Any, **kwargs: Any) -> Any:
        time.sleep(seconds)
        return plan_chunk(*args, **kwargs)

    broadcasts.plan_chunk = paced


def main() -> None:
    """Work until SIGTERM (or until killed)."""
    from app import create_app
    from work.worker import run_worker

    pause = float(os.environ.get("TEST_BROADCAST_CHUNK_PAUSE", "0"))
    if pause:
        _pace_chunks(pause)

    app = create_app({"environ": dict(os.environ), "instance_path": sys.argv[1]})
    print("ready", flush=True)
    run_worker(app, worker_id="doomed-worker")


if __name__ == "__main__":
    main()
