"""Files that hold secrets or customer data, created readable by their owner only.

The instance folder holds the SQLite database (customers' names, phones, mail addresses), the
development SECRET_KEY and the dev org (its private keys and admin key). On a shared machine the
usual umask (022) would make each of them world-readable, so they are created with mode 0600 and
their folders 0700 from the first byte (os.open with the mode, not a chmod afterwards: a chmod
leaves a moment in which another user can open the file and keep it open).
"""

from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path | str) -> Path:
    """Make `path` (and missing parents) a folder only its owner can enter; tighten it if it exists."""
    path = Path(path)
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(DIR_MODE)
    return path


def write_private(path: Path | str, data: bytes | str) -> None:
    """Write `data` to `path`, owner read/write only, whether or not the file existed."""
    raw = data.encode() if isinstance(data, str) else data
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # an existing file keeps its old mode through O_CREAT
        os.write(fd, raw)
    finally:
        os.close(fd)


def touch_private(path: Path | str) -> None:
    """Create `path` empty with mode 0600 if it is missing (e.g. before SQLite opens it); an
    existing file is tightened to 0600. SQLite gives its -wal/-shm/-journal files the database
    file's mode, so they follow."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        if Path(path).stat().st_mode & 0o077:
            os.chmod(path, FILE_MODE)
        return
    os.close(fd)
