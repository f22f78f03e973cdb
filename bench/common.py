"""What every benchmark shares: a throwaway PostgreSQL database, the app over it, an SMTP sink
server, percentiles, peak memory."""

from __future__ import annotations

import asyncio
import resource
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


def percentile(samples: list[float], q: float) -> float:
    """The `q` quantile (0–1) of `samples`, nearest rank, rounded to 0.01."""
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports ru_maxrss in KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def fresh_postgres(url: str, bench: str) -> str | None:
    """Drop and create the database `url` names; its URL, or None (said on stderr) when unreachable.

    A benchmark whose PostgreSQL is missing reports null for those figures rather than failing.
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from config.settings import _database_url

    parsed = make_url(_database_url(url))
    try:
        admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
        admin.dispose()
    except Exception as exc:  # any failure to reach the server means "no PostgreSQL here"
        print(f"bench.{bench}: PostgreSQL not reachable ({exc})", file=sys.stderr)
        return None
    return parsed.render_as_string(hide_password=False)


def drop_postgres(url: str) -> None:
    """Drop the database `url` names (connections to it are ended)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    admin.dispose()


@contextmanager
def bench_app(database_url: str) -> Iterator[Any]:
    """The app over `database_url` (CSRF off, a throwaway instance folder); its pool is closed after."""
    from app import create_app
    from db import get_db

    with tempfile.TemporaryDirectory() as instance:
        app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False, "instance_path": instance,
                          "environ": {"SECRET_KEY": "bench", "PUBLIC_BASE_URL": "http://localhost"},
                          "settings": {"database_url": database_url}})
        try:
            yield app
        finally:
            get_db(app).dispose()


async def smtp_server(handler: Callable[[], Any], port: int) -> asyncio.Server:
    """An aiosmtpd server on 127.0.0.1:`port` in the running loop, one `handler()` a connection."""
    from aiosmtpd.smtp import SMTP

    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: SMTP(handler(), hostname="sink.localhost", decode_data=False), "127.0.0.1", port)
