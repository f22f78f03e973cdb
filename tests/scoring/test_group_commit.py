"""The pixel's group commit: concurrent hits share one INSERT, each answered only once stored."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select, text

from activity.models import Activity
from db import get_db
from scoring import group_commit, tracking
from scoring.group_commit import PageViewNotStored, PageViewWriter

BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"


def row(n: int) -> dict:
    return tracking.page_view_row(f"visitor{n:012d}abcdef", f"https://coop.example.jp/p/{n}", f"ページ{n}", "")


def stored_urls(app) -> list[str]:
    with get_db(app).transaction() as s:
        return sorted(a.details["url"] for a in s.scalars(select(Activity).where(Activity.kind == "page_view")))


def pixel(client, n: int):
    return client.get("/t/p.gif", headers={"User-Agent": BROWSER},
                      query_string={"v": f"visitor{n:012d}abcdef", "u": f"https://coop.example.jp/p/{n}"})


class RecordingWriter(PageViewWriter):
    """Records batch sizes; the first batch waits for `release` so that others queue behind it."""

    def __init__(self, database) -> None:
        super().__init__(database)
        self.batches: list[int] = []
        self.first_started = threading.Event()
        self.release = threading.Event()

    def _insert(self, rows):
        self.batches.append(len(rows))
        if len(self.batches) == 1:
            self.first_started.set()
            assert self.release.wait(10)
        super()._insert(rows)

    def queue_behind_first(self, store, others: int) -> list[threading.Thread]:
        """Run store(0) until its INSERT starts (and holds), then store(1..others) until all wait."""
        threads = [threading.Thread(target=store, args=(0,))]
        threads[0].start()
        assert self.first_started.wait(10)
        threads += [threading.Thread(target=store, args=(n,)) for n in range(1, others + 1)]
        for thread in threads[1:]:
            thread.start()
        deadline = time.monotonic() + 10
        while len(self._waiting) < others and time.monotonic() < deadline:
            time.sleep(0.01)
        return threads

    def finish(self, threads: list[threading.Thread]) -> None:
        """Let the first INSERT go on and wait for every caller."""
        self.release.set()
        for thread in threads:
            thread.join(10)


def test_hits_waiting_behind_an_insert_are_stored_together_and_each_returns_once_stored(app):
    writer = RecordingWriter(get_db(app))
    seen_after_return: dict[int, bool] = {}

    def store(n: int) -> None:
        writer.store(row(n))
        seen_after_return[n] = f"https://coop.example.jp/p/{n}" in stored_urls(app)

    threads = writer.queue_behind_first(store, 10)
    assert not seen_after_return  # nobody is answered while the INSERT holding the first is open
    writer.finish(threads)
    writer.close()

    assert writer.batches == [1, 10]
    assert seen_after_return == dict.fromkeys(range(11), True)
    assert stored_urls(app) == sorted(f"https://coop.example.jp/p/{n}" for n in range(11))


def test_many_concurrent_hits_through_the_pixel_are_each_stored_exactly_once(app):
    failures: list[int] = []

    def browse(first: int) -> None:
        client = app.test_client()
        for n in range(first, first + 25):
            if pixel(client, n).status_code != 200:
                failures.append(n)

    threads = [threading.Thread(target=browse, args=(k * 25,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert stored_urls(app) == sorted(f"https://coop.example.jp/p/{n}" for n in range(200))


def _refuse_page_views(app) -> None:
    """Make the database itself refuse new activity rows (a real failure, not a mock)."""
    with get_db(app).engine.begin() as conn:
        if get_db(app).is_sqlite:
            conn.exec_driver_sql("CREATE TRIGGER refuse BEFORE INSERT ON activities "
                                 "BEGIN SELECT RAISE(ABORT, 'refused'); END")
        else:
            conn.exec_driver_sql("ALTER TABLE activities ADD CONSTRAINT refuse CHECK (false) NOT VALID")


def _accept_page_views(app) -> None:
    with get_db(app).engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER refuse" if get_db(app).is_sqlite
                             else "ALTER TABLE activities DROP CONSTRAINT refuse")


def test_a_failed_batch_is_answered_503_stores_nothing_and_the_next_hit_is_stored(app, client, caplog):
    _refuse_page_views(app)
    refused = pixel(client, 1)
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "5" and refused.data == b""
    assert "page views could not be stored" in caplog.text
    _accept_page_views(app)
    assert pixel(client, 2).status_code == 200
    assert stored_urls(app) == ["https://coop.example.jp/p/2"]


def test_every_waiter_of_a_failed_batch_is_told_and_none_of_its_rows_is_kept(app):
    writer = RecordingWriter(get_db(app))
    outcomes: dict[int, str] = {}

    def store(n: int) -> None:
        try:
            writer.store(row(n))
            outcomes[n] = "stored"
        except PageViewNotStored:
            outcomes[n] = "refused"

    threads = writer.queue_behind_first(store, 5)
    _refuse_page_views(app)  # the first batch is not yet sent: it fails too
    writer.finish(threads)
    _accept_page_views(app)
    writer.store(row(9))
    writer.close()

    assert outcomes == dict.fromkeys(range(6), "refused")
    assert stored_urls(app) == ["https://coop.example.jp/p/9"]


@pytest.fixture
def postgres_app(app):
    if get_db(app).is_sqlite:
        pytest.skip("the writer's own connection is PostgreSQL's; SQLite writes through the pool")
    return app


def test_a_connection_the_server_dropped_while_idle_is_replaced_before_the_next_insert(postgres_app, monkeypatch):
    app = postgres_app
    monkeypatch.setattr(group_commit, "PING_AFTER_IDLE_S", 0.0)
    writer = PageViewWriter(get_db(app))
    writer.store(row(1))
    backend = writer._connection.info.backend_pid
    with get_db(app).engine.begin() as conn:  # as a server restart or an idle-session killer would
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
    writer.store(row(2))
    assert writer._connection.info.backend_pid != backend
    writer.close()
    assert stored_urls(app) == ["https://coop.example.jp/p/1", "https://coop.example.jp/p/2"]


def test_the_writer_connection_is_closed_with_the_database(postgres_app):
    app, client = postgres_app, postgres_app.test_client()
    assert pixel(client, 1).status_code == 200
    writer = app.wsgi_app.writer
    backend = writer._connection.info.backend_pid
    get_db(app).dispose()
    assert writer._connection is None
    with get_db(app).engine.connect() as conn:
        alive = conn.scalar(select(func.count()).select_from(text("pg_stat_activity"))
                            .where(text("pid = :pid")), {"pid": backend})
    assert alive == 0
