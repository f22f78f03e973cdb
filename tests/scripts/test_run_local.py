"""`make run`'s set-up step, and the real `web` process of the Procfile serving a demo sign-in."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from migrations import alembic_config
from people.models import User
from scripts.run_local import DEMO_PEOPLE, local_environ, runnable_procfile, setup

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.db_independent


def clean_environ(tmp_path: Path) -> dict[str, str]:
    """This machine's environment without any tsunagi settings, as on a fresh clone."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("TSUNAGI_", "SALESFORCE_", "SMTP_", "DEVORG_", "TEST_DATABASE"))
            and k not in {"SECRET_KEY", "DATABASE_URL", "PORT", "PUBLIC_BASE_URL"}}
    return local_environ(base, instance_path=tmp_path / "instance")


def test_setup_migrates_the_schema_and_creates_the_demo_people_once(tmp_path):
    instance = tmp_path / "instance"
    env = clean_environ(tmp_path)
    first = setup(env, instance, demo_data=False)
    again = setup(env, instance, demo_data=False)
    assert sorted(first.created) == sorted(email for email, *_ in DEMO_PEOPLE)
    assert again.created == []
    assert first.url == "http://localhost:5000"

    engine = create_engine(first.database_url)
    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    script = ScriptDirectory.from_config(alembic_config(first.database_url))
    # Every revision is applied: the current heads and all they stand on (a branch head another
    # branch's revision depends on is implied by that revision: alembic's "effective head").
    applied = {r.revision for r in script.iterate_revisions(tuple(current), "base")}
    with Session(engine) as session:
        roles = {u.email: u.role for u in session.scalars(select(User))}
    engine.dispose()
    assert applied == {r.revision for r in script.walk_revisions()}
    assert roles == {email: role for email, role, *_ in DEMO_PEOPLE}
    assert (instance / "secret_key").is_file()  # debug mode made and kept a local secret


def procfile_web_command() -> str:
    """The Procfile's web command, bound to a free loopback port instead of 0.0.0.0:$PORT."""
    line = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    command = line.removeprefix("web:").strip()
    assert "${PORT:-5000}" in command, "the web process must listen on PORT (default 5000)"
    return command.replace("0.0.0.0:${PORT:-5000}", "127.0.0.1:0")


@pytest.mark.slow
def test_procfile_web_process_serves_healthz_and_a_demo_sign_in(tmp_path):
    instance = tmp_path / "instance"
    env = clean_environ(tmp_path)
    setup(env, instance, demo_data=False)
    env.update(WEB_CONCURRENCY="1", SECRET_KEY=(instance / "secret_key").read_text())
    log = tmp_path / "gunicorn.log"
    with log.open("w") as out:
        web = subprocess.Popen(["bash", "-c", "exec " + procfile_web_command()], cwd=ROOT, env=env,
                               stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = wait_for_listening(web, log)
        health = requests.get(base + "/healthz", timeout=10)
        assert health.status_code == 200, health.text
        assert health.json()["status"] == "ok"

        email, _role, password, _name = DEMO_PEOPLE[0]
        browser = requests.Session()
        form = browser.get(base + "/login", timeout=10).text
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
        signed_in = browser.post(base + "/login", data={"email": email, "password": password, "csrf_token": token},
                                 timeout=10)
        assert signed_in.status_code == 200 and signed_in.url == base + "/"
        assert "管理 ホーム" in signed_in.text
        no_token = requests.post(base + "/login", data={"email": email, "password": password}, timeout=10)
        assert no_token.status_code == 400
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(timeout=30)


def wait_for_listening(process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> str:
    """Poll gunicorn's log until it names its port; fail with the log if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", log.read_text())
        if found:
            return f"http://127.0.0.1:{found.group(1)}"
        if process.poll() is not None:
            pytest.fail(f"web exited with {process.returncode}:\n{log.read_text()}")
        time.sleep(0.1)
    pytest.fail(f"web did not start within {timeout}s:\n{log.read_text()}")


def test_make_run_prints_the_url_and_demo_sign_ins(tmp_path):
    result = subprocess.run([sys.executable, "-m", "scripts.run_local", "--setup-only", "--no-demo-data",
                             "--instance", str(tmp_path / "instance")], cwd=ROOT, env=clean_environ(tmp_path),
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "http://localhost:5000" in result.stdout
    for email, role, password, _name in DEMO_PEOPLE:
        assert re.search(rf"{role}\s+{re.escape(email)}\s+{re.escape(password)}", result.stdout)


def test_clock_and_worker_wait_for_the_dev_org_when_it_runs(tmp_path):
    from app import create_app

    app = create_app({"instance_path": str(tmp_path / "instance"), "environ": clean_environ(tmp_path)})
    procfile = tmp_path / "Procfile.dev"
    procfile.write_text("devorg: flask --app app devorg serve\nworker: flask --app app work worker\n"
                        "web: gunicorn app\n")
    kept, _ = runnable_procfile(app, procfile)
    lines = kept.splitlines()
    assert lines[1].startswith("worker: python -m scripts.wait_for_port 127.0.0.1 ${DEVORG_PORT} 60 && flask")
    assert lines[2] == "web: gunicorn app"


@pytest.mark.parametrize("listening", [True, False])
def test_wait_for_port_answers_whether_something_listens(listening):
    import socket

    from scripts.wait_for_port import wait_for_port

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    port = server.getsockname()[1]
    if listening:
        server.listen()
    try:
        assert wait_for_port("127.0.0.1", port, timeout=1.5) is listening
    finally:
        server.close()


def test_make_run_serves_loopback_unless_asked_to_serve_the_lan_for_a_phone(tmp_path):
    from scripts.run_local import lan_address

    local = clean_environ(tmp_path)
    assert (local["BIND_HOST"], local["PUBLIC_BASE_URL"]) == ("127.0.0.1", "http://localhost:5000")
    base = {k: v for k, v in clean_environ(tmp_path).items() if k not in ("BIND_HOST", "PUBLIC_BASE_URL")}
    lan = local_environ({**base, "TSUNAGI_LAN": "1"}, instance_path=tmp_path / "instance")
    assert lan["BIND_HOST"] == "0.0.0.0"  # noqa: S104
    # Mail links name this machine as a phone on the same network reaches it, never "localhost".
    assert lan["PUBLIC_BASE_URL"] == f"http://{lan_address()}:5000"
    assert "${BIND_HOST}:${PORT}" in (ROOT / "Procfile.dev").read_text()
