"""The dev org and the dev inbox, and their libraries, load only in development."""

# (`flask mail inbox` refuses outside development too: see test_the_dev_inbox_command_refuses_production.)

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.db_independent

# Signs in as an admin of a production app (no TESTING, no debug) and reports what it sees.
SCRIPT = """
import json, sys
from app import create_app
import db
from people.service import create_user
from migrations import upgrade

app = create_app({"instance_path": sys.argv[1], "WTF_CSRF_ENABLED": False})
upgrade(app.config["TSUNAGI"].database_url)
with db.get_db(app).transaction() as session:
    create_user(session, "admin@example.jp", "admin", "correct horse battery")
client = app.test_client()
client.post("/login", data={"email": "admin@example.jp", "password": "correct horse battery"})
home = client.get("/").get_data(as_text=True)
mail_admin = client.get("/admin/mail/templates").get_data(as_text=True)
print(json.dumps({
    "blueprint": "devorg" in app.blueprints,
    "cli": "devorg" in app.cli.commands,
    "devorg_page": client.get("/devorg/").status_code,
    "menu": "開発用 Salesforce" in home,
    "inbox_link": "/admin/mail/inbox" in mail_admin,
    "inbox_page": client.get("/admin/mail/inbox").status_code,
    "signed_in": "admin@example.jp" in home or "ログアウト" in home,
    "modules": sorted(m for m in sys.modules if m.split(".")[0] in {"faker", "trustme", "aiosmtpd", "honcho"}
                      or m.startswith("devorg.")),
}))
"""


def run_as(tmp_path: Path, **env: str) -> dict:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("TSUNAGI_", "SALESFORCE_", "SMTP_", "LOG_"))
            and k not in {"SECRET_KEY", "DATABASE_URL"}}
    base.update(PYTHONPATH=str(ROOT), SECRET_KEY="s" * 40, DATABASE_URL=f"sqlite:///{tmp_path}/t.db",
                LOG_LEVEL="ERROR", **env)
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "instance")], cwd=tmp_path, env=base,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_has_no_dev_org_or_dev_inbox_menu_pages_cli_or_dev_libraries(tmp_path):
    seen = run_as(tmp_path)
    assert seen["signed_in"]
    assert seen == {**seen, "blueprint": False, "cli": False, "devorg_page": 404, "menu": False, "modules": [],
                    "inbox_link": False, "inbox_page": 404}


def test_debug_mode_has_the_dev_org_and_the_dev_inbox(tmp_path):
    seen = run_as(tmp_path, TSUNAGI_DEBUG="1")
    assert seen["blueprint"] and seen["cli"] and seen["menu"]
    assert seen["inbox_link"] and seen["inbox_page"] == 200


def test_the_dev_inbox_command_refuses_production(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TSUNAGI_", "SALESFORCE_", "SMTP_", "LOG_"))
           and k not in {"SECRET_KEY", "DATABASE_URL"}}
    env.update(PYTHONPATH=str(ROOT), SECRET_KEY="s" * 40, DATABASE_URL=f"sqlite:///{tmp_path}/t.db")
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "mail", "inbox", "--port", "0"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert "the dev inbox is for development" in result.stderr
