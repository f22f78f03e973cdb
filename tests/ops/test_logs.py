"""Every process writes JSON lines in production, with time, level, process kind and request or job id."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from sqlalchemy import text

import db
from tests.ops.processes import reaped, terminate
from work import queue

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
KEYS = {"time", "level", "process", "pid", "logger", "message"}


def _env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TSUNAGI_", "SALESFORCE_", "SMTP_", "LOG_")) and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(PYTHONPATH=str(ROOT), SECRET_KEY="s" * 40, DATABASE_URL=database_url,
               WORKER_IDLE_SLEEP_SECONDS="0.05", **extra)
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _json_lines(stderr: str) -> list[dict]:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines, "no log lines at all"
    parsed = []
    for line in lines:
        record = json.loads(line)  # every line is one JSON object
        assert record.keys() >= KEYS, record
        parsed.append(record)
    return parsed


def _stop(process: subprocess.Popen) -> str:
    return terminate(process)[1]


def test_web_process_logs_json_lines_and_an_access_line_with_the_request_id(app, tmp_path):
    port = _free_port()
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", "python:ops.gunicorn_conf", "--bind", f"127.0.0.1:{port}", "--workers", "1",
         "app:create_app()"],
        cwd=tmp_path, env=_env(app.config["TSUNAGI"].database_url), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    with reaped(process):
        deadline = time.monotonic() + 120
        while True:
            try:
                response = requests.get(f"http://127.0.0.1:{port}/livez", headers={"X-Request-ID": "req-abc-123"},
                                        timeout=30)
                break
            except (requests.ConnectionError, requests.Timeout):
                assert time.monotonic() < deadline and process.poll() is None, process.stderr.read()
                time.sleep(0.2)
        assert response.status_code == 200 and response.headers["X-Request-ID"] == "req-abc-123"
        generated = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=30).headers["X-Request-ID"]
        err = _stop(process)
    records = _json_lines(err)
    assert {r["process"] for r in records} == {"web"}
    access = [r for r in records if r["logger"] == "gunicorn.access"]
    lines = {(r["path"], r["status"], r["request_id"]) for r in access}
    assert ("/livez", 200, "req-abc-123") in lines and ("/readyz", 200, generated) in lines
    assert all(r["duration_ms"] >= 0 and r["method"] == "GET" for r in access)
    assert any("not fit for production" in r["message"] and r["level"] == "WARNING" for r in records)
    assert any(r["logger"] == "gunicorn.error" and "Booting worker" in r["message"] for r in records)


def test_worker_process_logs_json_lines_with_the_job_id(app, tmp_path):
    with db.get_db(app).transaction() as session:
        queue.enqueue(session, "sync.cycle")  # fails: no Salesforce org configured, and says so in a log line
        job_id = session.scalar(text("SELECT max(id) FROM jobs"))
    process = subprocess.Popen([str(BIN / "flask"), "--app", "app", "work", "worker"], cwd=ROOT,
                               env=_env(app.config["TSUNAGI"].database_url), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    with reaped(process):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with db.get_db(app).transaction() as session:
                if session.scalar(text("SELECT attempts FROM jobs WHERE id = :id"), {"id": job_id}):
                    status = session.scalar(text("SELECT status FROM jobs WHERE id = :id"), {"id": job_id})
                    if status != "running":
                        break
            time.sleep(0.2)
        err = _stop(process)
    records = _json_lines(err)
    assert {r["process"] for r in records} == {"worker"}
    assert any(r["message"].endswith("started") for r in records)
    failed = [r for r in records if r.get("job_id") == str(job_id)]
    assert failed and failed[0]["level"] == "ERROR" and failed[0]["source"] == "sync.cycle"
    assert "exc" in failed[0]
    assert records[-1]["message"].startswith("worker") and "stopped" in records[-1]["message"]


def test_debug_mode_logs_readable_lines(app, tmp_path):
    with db.get_db(app).transaction() as session:
        queue.enqueue(session, "sync.cycle")
    process = subprocess.run([str(BIN / "flask"), "--app", "app", "work", "once"], cwd=ROOT,
                             env=_env(app.config["TSUNAGI"].database_url, TSUNAGI_DEBUG="1"),
                             capture_output=True, text=True, timeout=60, check=False)
    assert process.returncode == 0, process.stderr
    failed = [line for line in process.stderr.splitlines() if " ERROR " in line]
    assert failed and "job_id=" in failed[0] and "work.worker: job" in failed[0], process.stderr
    assert not any(line.startswith("{") for line in process.stderr.splitlines())
