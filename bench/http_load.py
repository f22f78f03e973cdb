"""HTTP load for benchmarks: raw keep-alive requests sent back to back, by wrk or by asyncio.

wrk (Debian's `wrk`, `make bench-tools` installs it) is the default when it is on PATH: written
in C, it spends about a tenth of the CPU per request of a Python client, and on a small machine
the load generator shares the cores with the server it measures. Without it an asyncio client in
this process does the same job. Both send the given requests in turn over `connections`
keep-alive connections for `seconds`, and report what came back.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import percentile

# wrk's request() returns the next raw request of the file (NUL-separated), in turn.
WRK_SCRIPT = r"""
local requests, i = {}, 0
function init(args)
  local f = assert(io.open(args[1], "rb"))
  local data = f:read("*a")
  f:close()
  for r in string.gmatch(data, "([^%z]+)%z") do requests[#requests + 1] = r end
end
function request()
  i = i % #requests + 1
  return requests[i]
end
"""
UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def drive(port: int, requests: list[bytes], connections: int, seconds: float, budget: int | None = None,
          client: str = "auto") -> dict[str, Any]:
    """Send `requests` (raw HTTP/1.1, keep-alive) to 127.0.0.1:`port` for `seconds`.

    Returns ok (200 answers), errors (other answers and socket errors), seconds (elapsed),
    latency_p50_ms / latency_p99_ms and client ("wrk" or "asyncio"). `budget` caps the requests
    of the asyncio client (wrk runs for the time only). `client`: auto, wrk or asyncio.
    """
    if client == "wrk" or (client == "auto" and shutil.which("wrk")):
        return _drive_wrk(port, requests, connections, seconds)
    work = _drive_asyncio(port, requests, connections, seconds, budget or 10**12)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(work)
    # Called where an event loop already runs in this thread (Playwright's sync API in the same
    # test process): asyncio.run refuses that, so the client gets a thread and a loop of its own.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, work).result()


def _drive_wrk(port: int, requests: list[bytes], connections: int, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        script, data = Path(tmp) / "requests.lua", Path(tmp) / "requests.bin"
        script.write_text(WRK_SCRIPT)
        data.write_bytes(b"".join(request + b"\0" for request in requests))
        command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency",
                   "-s", str(script), f"http://127.0.0.1:{port}", "--", str(data)]
        out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    return parse_wrk(out)


def parse_wrk(out: str) -> dict[str, Any]:
    """The figures of wrk's `--latency` report (its text is all wrk gives without a Lua `done`)."""
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", out)
    if total is None:
        raise RuntimeError(f"wrk printed no totals:\n{out}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non_2xx.group(1)) if non_2xx else 0) + (sum(map(int, sockets.groups())) if sockets else 0)

    def latency(share: str) -> float | None:
        found = re.search(rf"^\s*{share}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.MULTILINE)
        return round(float(found.group(1)) * UNITS_MS[found.group(2)], 2) if found else None

    requests = int(total.group(1))
    return {"ok": requests - (int(non_2xx.group(1)) if non_2xx else 0), "errors": errors,
            "seconds": round(float(total.group(2)) * UNITS_MS[total.group(3)] / 1000, 2),
            "latency_p50_ms": latency("50"), "latency_p99_ms": latency("99"), "client": "wrk"}


async def _connection(port: int, requests: list[bytes], state: dict[str, Any], deadline: float,
                      latencies: list[float]) -> None:
    """One keep-alive connection sending requests back to back until the deadline or the budget."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < deadline and state["sent"] < state["budget"]:
            request = requests[state["sent"] % len(requests)]
            state["sent"] += 1
            started = time.perf_counter()
            try:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
                await reader.readexactly(int(length.group(1)) if length else 0)
            except (asyncio.IncompleteReadError, ConnectionError):
                state["errors"] += 1
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            if head.startswith(b"HTTP/1.1 200"):
                state["ok"] += 1
                latencies.append((time.perf_counter() - started) * 1000)
            else:
                state["errors"] += 1
            if b"connection: close" in head.lower():
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
    finally:
        writer.close()


async def _drive_asyncio(port: int, requests: list[bytes], connections: int, seconds: float,
                         budget: int) -> dict[str, Any]:
    state = {"sent": 0, "ok": 0, "errors": 0, "budget": budget}
    latencies: list[float] = []
    started = time.perf_counter()
    await asyncio.gather(*(_connection(port, requests, state, started + seconds, latencies)
                           for _ in range(connections)))
    return {"ok": state["ok"], "errors": state["errors"], "seconds": round(time.perf_counter() - started, 2),
            "latency_p50_ms": percentile(latencies, 0.5) if latencies else None,
            "latency_p99_ms": percentile(latencies, 0.99) if latencies else None, "client": "asyncio"}
