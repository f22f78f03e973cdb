"""A worker process that runs only the mail outbox (for crash and concurrency tests).

    python -m tests.mail.worker_process WORKER_ID INSTANCE_DIR    (settings from the environment)
"""

from __future__ import annotations

import os
import signal
import sys
import threading


def main() -> None:
    """Send until SIGTERM."""
    from app import create_app
    from mail.sender import sender_for

    worker_id, instance = sys.argv[1], sys.argv[2]
    app = create_app({"environ": dict(os.environ), "instance_path": instance})
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with app.app_context():
        sender = sender_for(app)
        print("ready", flush=True)
        while not stop.is_set():
            if sender.process(worker_id) == 0:
                stop.wait(0.05)
        sender.close()


if __name__ == "__main__":
    main()
