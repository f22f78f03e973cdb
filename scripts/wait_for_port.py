"""`python -m scripts.wait_for_port HOST PORT [SECONDS]`: wait until something listens there.

`make run` starts every process at once; the clock and worker wait for the dev org this way so
their first sync does not fail for want of an org that is still starting.
"""

from __future__ import annotations

import socket
import sys
import time


def wait_for_port(host: str, port: int, timeout: float) -> bool:
    """True as soon as a TCP connection to host:port succeeds; False after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def main(argv: list[str]) -> int:
    """Exit 0 when the port answers in time, 1 otherwise (with a note on stderr)."""
    host, port, timeout = argv[0], int(argv[1]), float(argv[2]) if len(argv) > 2 else 60.0
    if wait_for_port(host, port, timeout):
        return 0
    print(f"tsunagi: nothing listens on {host}:{port} after {timeout:.0f}s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
