"""A real worker (work.worker.run_worker, SIGTERM handling included) with one slow job kind.

    python -m tests.ops.worker_process INSTANCE_DIR    (settings from the environment)

`test.slow` jobs sleep for their payload's `seconds`, printing `started <id>` first.
"""

from __future__ import annotations

import os
import sys
import time


def main() -> None:
    """Run the worker until SIGTERM."""
    from app import create_app
    from work import register_job_handler
    from work.worker import run_worker

    app = create_app({"environ": dict(os.environ), "instance_path": sys.argv[1]})

    def slow(payload: dict) -> None:
        print(f"started {payload['n']}", flush=True)
        time.sleep(float(payload["seconds"]))

    register_job_handler(app, "test.slow", slow)
    print("ready", flush=True)
    run_worker(app, worker_id="sigterm-test-worker")
    print("exited", flush=True)


if __name__ == "__main__":
    main()
