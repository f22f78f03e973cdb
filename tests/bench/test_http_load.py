"""bench.http_load: what the benchmarks' load generators report is read correctly."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer

import pytest

from bench import http_load
from tests.fixtures.http_server import QuietHandler

pytestmark = pytest.mark.db_independent

# wrk 4.1's --latency report, as printed on this project's machine (one run with failures).
WRK_REPORT = """Running 5s test @ http://127.0.0.1:8711
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.50ms    0.88ms   7.92ms   92.70%
    Req/Sec     2.72k   309.45     3.12k    63.64%
  Latency Distribution
     50%  850.00us
     75%    1.44ms
     90%    1.90ms
     99%    1.20s
  29760 requests in 5.01s, 5.23MB read
  Socket errors: connect 0, read 2, write 1, timeout 0
  Non-2xx or 3xx responses: 40
Requests/sec:   5940.12
Transfer/sec:    1.04MB
"""


def test_a_wrk_report_gives_answers_failures_time_and_latency_in_milliseconds():
    assert http_load.parse_wrk(WRK_REPORT) == {
        "ok": 29720, "errors": 43, "seconds": 5.01, "latency_p50_ms": 0.85, "latency_p99_ms": 1200.0,
        "client": "wrk"}


def test_a_wrk_run_without_totals_is_an_error_not_zero():
    with pytest.raises(RuntimeError, match="no totals"):
        http_load.parse_wrk("unable to connect to 127.0.0.1:9 Connection refused\n")


class Handler(QuietHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.reply(200 if self.path.startswith("/ok") else 503, b"hi")


def test_the_asyncio_client_counts_answers_and_failures_over_keep_alive_connections():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        requests = [b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"] * 3 + [b"GET /down HTTP/1.1\r\nHost: x\r\n\r\n"]
        result = http_load.drive(server.server_address[1], requests, connections=2, seconds=30, budget=40,
                                 client="asyncio")
    finally:
        server.shutdown()
        server.server_close()
    assert (result["ok"], result["errors"], result["client"]) == (30, 10, "asyncio")
    assert 0 < result["latency_p50_ms"] <= result["latency_p99_ms"]


def test_the_asyncio_client_also_runs_where_an_event_loop_is_already_running():
    """CI ran this file in a process where Playwright's sync API had a loop running: asyncio.run refused."""
    import asyncio

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def drive():
        return http_load.drive(server.server_address[1], [b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"], connections=1,
                               seconds=30, budget=5, client="asyncio")

    async def inside_a_loop():
        return drive()

    try:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            result = asyncio.run(inside_a_loop())  # no loop here yet: make one
        else:
            result = drive()  # a loop already runs in this thread (as when CI failed)
    finally:
        server.shutdown()
        server.server_close()
    assert (result["ok"], result["errors"]) == (5, 0)
