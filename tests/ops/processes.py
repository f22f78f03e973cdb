"""Helpers for tests that run tsunagi's processes for real: stop one as the platform does, and never
leave one running when a test fails."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def reaped(process: subprocess.Popen) -> Iterator[subprocess.Popen]:
    """`process`, killed and waited for on the way out if it still runs (a failed test leaves no orphan)."""
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def terminate(process: subprocess.Popen, timeout: float = 30) -> tuple[str, str, float]:
    """Send SIGTERM and wait for the exit: (stdout, stderr, seconds from the signal to the exit)."""
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=timeout)
    return out, err, time.monotonic() - sent
