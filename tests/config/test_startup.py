"""A bad configuration stops every real entry point with one line naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.db_independent


def run(args: list[str], tmp_path: Path, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    """Run an entry point from a clean directory with only the given tsunagi settings."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("TSUNAGI_", "SALESFORCE_", "SMTP_")) and k not in {"SECRET_KEY", "DATABASE_URL"}}
    base.update(PYTHONPATH=str(ROOT), **env)
    return subprocess.run(args, cwd=tmp_path, env=base, capture_output=True, text=True, timeout=timeout, check=False)


def tsunagi_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("tsunagi: ")]


def assert_one_line_naming(result: subprocess.CompletedProcess[str], variable: str) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = tsunagi_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]
    return lines[0]


def test_database_url_with_unknown_scheme_stops_the_cli(tmp_path):
    result = run([str(BIN / "flask"), "--app", "app", "work", "worker"], tmp_path,
                 SECRET_KEY="k" * 40, DATABASE_URL="mysql://db/tsunagi")
    line = assert_one_line_naming(result, "DATABASE_URL")
    assert "sqlite:/// or postgresql://" in line


def test_unopenable_sqlite_database_stops_the_worker(tmp_path):
    result = run([str(BIN / "flask"), "--app", "app", "work", "worker"], tmp_path,
                 SECRET_KEY="k" * 40, DATABASE_URL=f"sqlite:///{tmp_path}/no/such/dir/x.db")
    assert "cannot be opened" in assert_one_line_naming(result, "DATABASE_URL")


def test_unreachable_postgresql_stops_the_release_check_with_the_password_masked(tmp_path):
    # Port 1 on loopback refuses connections at once.
    result = run([str(BIN / "flask"), "--app", "app", "config", "check"], tmp_path,
                 SECRET_KEY="k" * 40, DATABASE_URL="postgresql://tsunagi:hunter2@127.0.0.1:1/tsunagi")
    line = assert_one_line_naming(result, "DATABASE_URL")
    assert "hunter2" not in result.stderr
    assert "127.0.0.1" in line


def test_missing_secret_key_outside_debug_stops_the_cli(tmp_path):
    result = run([str(BIN / "flask"), "--app", "app", "users", "create", "a@example.jp", "--role", "admin"],
                 tmp_path, DATABASE_URL=f"sqlite:///{tmp_path}/x.db")
    assert_one_line_naming(result, "SECRET_KEY")


def test_missing_secret_key_stops_gunicorn_before_any_worker_boots(tmp_path):
    result = run([str(BIN / "gunicorn"), "--config", str(ROOT / "gunicorn.conf.py"), "--bind", "127.0.0.1:0",
                  "app:create_app()"], tmp_path, DATABASE_URL=f"sqlite:///{tmp_path}/x.db")
    assert_one_line_naming(result, "SECRET_KEY")
    assert "Booting worker" not in result.stderr


def test_unopenable_database_stops_gunicorn(tmp_path):
    result = run([str(BIN / "gunicorn"), "--config", str(ROOT / "gunicorn.conf.py"), "--bind", "127.0.0.1:0",
                  "app:create_app()"], tmp_path, SECRET_KEY="k" * 40, DATABASE_URL=f"sqlite:///{tmp_path}/no/x.db")
    assert "cannot be opened" in assert_one_line_naming(result, "DATABASE_URL")
