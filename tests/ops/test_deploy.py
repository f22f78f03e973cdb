"""Done when: install from the lock file exactly as the Dockerfile does, then run release, web, clock
and worker in production mode against PostgreSQL, a real (dev) org over HTTPS and a real SMTP server.

No docker daemon runs on our machines, so this repeats the Dockerfile's steps on the host: a fresh
virtualenv, `pip install -r requirements.lock`, `pip wheel --no-deps .`, `pip install --no-deps`
the wheel; every command then runs from an empty folder, so nothing is imported from the checkout.
The fresh install takes about a minute with pip's cache warm (it is a real install, not a copy of
the test's own environment). PostgreSQL only: set TEST_DATABASE_URL (the suite's PostgreSQL pass).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from tests.fixtures.database import empty_pg_database

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _postgres_url() -> str:
    base = os.environ.get("TEST_DATABASE_URL", "").strip()
    if not base.startswith("postgres"):
        pytest.skip("needs PostgreSQL: set TEST_DATABASE_URL")
    return empty_pg_database(base, "deploy")


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, f"{args}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def install_like_the_dockerfile(tmp_path: Path) -> Path:
    """The build stage of the Dockerfile, on this machine; returns the virtualenv's bin folder."""
    venv = tmp_path / "opt-tsunagi"
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    _run([*pip, "install", "--require-virtualenv", "-q", "-r", str(ROOT / "requirements.lock")], tmp_path)
    wheels = tmp_path / "wheels"
    _run([*pip, "wheel", "-q", "--no-deps", "--wheel-dir", str(wheels), str(ROOT)], tmp_path)
    [wheel] = wheels.glob("tsunagi-*.whl")
    _run([*pip, "install", "--require-virtualenv", "-q", "--no-deps", str(wheel)], tmp_path)
    return venv / "bin"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_locked_install_runs_release_web_clock_and_worker_in_production(tmp_path, devorg, smtp_sink):
    database_url = _postgres_url()
    lead_id = devorg.insert("Lead", LastName="配備", FirstName="確認", Company="個人", Email="deploy@example.jp")
    bin_ = install_like_the_dockerfile(tmp_path)
    home = tmp_path / "home"  # the image's WORKDIR: empty, no source
    home.mkdir()

    # Production installs leave the development libraries out (the `dev` extra).
    missing = subprocess.run([str(bin_ / "python"), "-c", "import faker"], cwd=home, capture_output=True,
                             check=False)
    assert missing.returncode != 0

    port = _free_port()
    settings = {**devorg.app_settings()}
    env = {k: v for k, v in os.environ.items()
           if k in {"PATH", "HOME", "LANG", "TMPDIR", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"}}
    env.update({
        "PATH": f"{bin_}:{env.get('PATH', '')}",
        "DATABASE_URL": database_url,
        "SECRET_KEY": "deploy-test-" + "k" * 40,
        "PUBLIC_BASE_URL": "https://tsunagi.example.jp",
        "SMTP_URL": smtp_sink.url,
        "SALESFORCE_INSTANCE_URL": settings["salesforce_instance_url"],
        "SALESFORCE_LOGIN_URL": settings["salesforce_login_url"],
        "SALESFORCE_CLIENT_ID": settings["salesforce_client_id"],
        "SALESFORCE_CLIENT_SECRET": settings["salesforce_client_secret"],
        "SALESFORCE_CA_BUNDLE": settings["salesforce_ca_bundle"],
        "SALESFORCE_ORG_ID": settings["salesforce_org_id"],
        "SYNC_OBJECTS": "Lead",
        "METRICS_TOKEN": "scrape-me",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "SHUTDOWN_GRACE_SECONDS": "10",
        "PORT": str(port),
    })

    # release
    assert "configuration ok" in _run([str(bin_ / "flask"), "--app", "app", "config", "check"], home, env)
    _run([str(bin_ / "flask"), "--app", "app", "db", "upgrade"], home, env)

    logs = {name: (tmp_path / f"{name}.log").open("w+") for name in ("web", "clock", "worker")}
    commands = {
        "web": [str(bin_ / "gunicorn"), "--config", "python:ops.gunicorn_conf", "--bind", f"127.0.0.1:{port}",
                "--workers", "2", "app:create_app()"],
        "clock": [str(bin_ / "flask"), "--app", "app", "work", "clock"],
        "worker": [str(bin_ / "flask"), "--app", "app", "work", "worker"],
    }
    processes = {name: subprocess.Popen(command, cwd=home, env=env, stdout=logs[name], stderr=subprocess.STDOUT)
                 for name, command in commands.items()}
    engine = create_engine(database_url)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            assert all(p.poll() is None for p in processes.values()), _logs(logs)
            try:  # the master listens before its workers have booted: a first request may wait
                if requests.get(base + "/readyz", timeout=30).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass
            assert time.monotonic() < deadline, _logs(logs)
            time.sleep(0.2)
        assert requests.get(base + "/livez", timeout=30).json() == {"status": "ok"}
        # Translations came with the wheel.
        assert "Sign in" in requests.get(base + "/login?lang=en", timeout=30).text
        # The clock enqueued a sync cycle and the worker mirrored the org's Lead.
        deadline = time.monotonic() + 180
        while True:
            with engine.connect() as conn:
                mirrored = conn.execute(text("SELECT count(*) FROM mirror_records WHERE sf_id = :id"),
                                        {"id": lead_id}).scalar()
            if mirrored:
                break
            assert time.monotonic() < deadline, _logs(logs)
            assert all(p.poll() is None for p in processes.values()), _logs(logs)
            time.sleep(0.5)
        metrics = requests.get(base + "/metrics", headers={"Authorization": "Bearer scrape-me"}, timeout=30)
        assert metrics.status_code == 200
        assert 'tsunagi_queue_depth{queue="jobs"}' in metrics.text
        assert "tsunagi_http_request_duration_seconds_count" in metrics.text  # counted by the gunicorn workers

        # SIGTERM ends every process within the bound.
        started = time.monotonic()
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
        for name, process in processes.items():
            assert process.wait(timeout=30) == 0, (name, _logs(logs))
        assert time.monotonic() - started < 30
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
        engine.dispose()
        failed = sys.exc_info()[0] is not None
        if failed:
            for handle in logs.values():
                handle.close()
    for name, handle in logs.items():
        handle.seek(0)
        lines = [line for line in handle.read().splitlines() if line.strip()]
        assert lines, name
        kinds = {json.loads(line)["process"] for line in lines}  # every line is JSON
        assert kinds == {name}, (name, kinds)
        handle.close()


def _logs(logs: dict) -> str:
    out = []
    for name, handle in logs.items():
        handle.flush()
        handle.seek(0)
        out.append(f"--- {name}\n{handle.read()[-4000:]}")
        handle.seek(0, 2)
    return "\n".join(out)
