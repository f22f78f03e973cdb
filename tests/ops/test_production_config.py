"""The release step (`flask --app app config check`) refuses a demo configuration outside debug mode."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

PRODUCTION = {
    "SECRET_KEY": "Zq3" * 16,
    "PUBLIC_BASE_URL": "https://tsunagi.example.jp",
    "SMTP_URL": "smtp://relay.example.jp:587",
    "SALESFORCE_INSTANCE_URL": "https://coop.my.salesforce.com",
    "SALESFORCE_ACCESS_TOKEN": "00D-session",
    "ALLOW_SQLITE": "1",  # the SQLite pass of the suite; the PostgreSQL pass needs no permission
}


def config_check(make_app, database_url, **changes):
    environ = {**PRODUCTION, **changes}
    environ = {k: v for k, v in environ.items() if v is not None}
    app = make_app(environ=environ, database_url=database_url)
    return app.test_cli_runner().invoke(args=["config", "check"])


def test_a_production_configuration_passes(make_app, database_url):
    result = config_check(make_app, database_url)
    assert result.exit_code == 0, result.output
    assert "configuration ok" in result.output


@pytest.mark.parametrize(("change", "named"), [
    ({"SECRET_KEY": "x"}, "SECRET_KEY is shorter than 32"),
    ({"SECRET_KEY": "k" * 31}, "SECRET_KEY is shorter than 32"),
    ({"PUBLIC_BASE_URL": "http://tsunagi.example.jp"}, "PUBLIC_BASE_URL must start with https://"),
    ({"PUBLIC_BASE_URL": None}, "PUBLIC_BASE_URL must start with https://"),  # the localhost default
    ({"SMTP_URL": None}, "SMTP_URL is empty"),
    ({"SALESFORCE_INSTANCE_URL": None, "SALESFORCE_ACCESS_TOKEN": None}, "no Salesforce org is configured"),
])
def test_each_demo_setting_fails_the_release_check(make_app, database_url, change, named):
    result = config_check(make_app, database_url, **change)
    assert result.exit_code == 2, result.output
    assert named in result.output
    assert "configuration ok" not in result.output


def test_sqlite_fails_the_release_check_unless_allowed(make_app, tmp_path):
    sqlite = f"sqlite:///{tmp_path}/tsunagi.db"
    refused = config_check(make_app, sqlite, ALLOW_SQLITE=None)
    assert refused.exit_code == 2
    assert "DATABASE_URL is SQLite" in refused.output
    allowed = config_check(make_app, sqlite, ALLOW_SQLITE="1")
    assert allowed.exit_code == 0, allowed.output


def test_every_demo_setting_is_named_at_once(make_app, tmp_path):
    app = make_app(environ={"SECRET_KEY": "x"}, database_url=f"sqlite:///{tmp_path}/x.db")
    result = app.test_cli_runner().invoke(args=["config", "check"])
    assert result.exit_code == 2
    for named in ("SECRET_KEY", "DATABASE_URL", "Salesforce", "PUBLIC_BASE_URL", "SMTP_URL"):
        assert named in result.output


def test_debug_mode_accepts_the_demo_configuration(make_app, tmp_path):
    app = make_app(environ={"SECRET_KEY": "x", "TSUNAGI_DEBUG": "1"}, database_url=f"sqlite:///{tmp_path}/x.db")
    result = app.test_cli_runner().invoke(args=["config", "check"])
    assert result.exit_code == 0, result.output


@pytest.mark.db_independent
def test_the_real_release_command_stops_with_one_line_on_a_short_secret(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TSUNAGI_", "SALESFORCE_", "SMTP_")) and k not in {"SECRET_KEY", "DATABASE_URL"}}
    env.update(PRODUCTION, SECRET_KEY="x", DATABASE_URL=f"sqlite:///{tmp_path}/x.db", PYTHONPATH=str(ROOT))
    result = subprocess.run([str(BIN / "flask"), "--app", "app", "config", "check"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("tsunagi: ")]
    assert len(lines) == 1 and "SECRET_KEY is shorter than 32" in lines[0]
    assert "Traceback" not in result.stderr
