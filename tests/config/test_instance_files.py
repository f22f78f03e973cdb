"""Instance files hold customers' data and secrets: owner-only from the first byte (issue 13, item 7)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import text

from config.files import private_dir, touch_private, write_private


@pytest.fixture
def usual_umask():
    """The umask of most machines (022), under which new files are world-readable by default."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_development_database_and_secret_key_are_readable_by_their_owner_only(tmp_path, usual_umask):
    from app import create_app
    from db import get_db

    instance = tmp_path / "instance"
    app = create_app({"instance_path": str(instance), "environ": {"TSUNAGI_DEBUG": "1"}})
    with get_db(app).engine.begin() as conn:  # SQLite writes the file (and its journal) now
        conn.execute(text("CREATE TABLE probe (x INTEGER)"))
    get_db(app).dispose()
    assert mode(instance) == 0o700
    assert mode(instance / "secret_key") == 0o600
    assert mode(instance / "tsunagi.db") == 0o600
    for extra in instance.glob("tsunagi.db-*"):  # -wal / -shm follow the database's mode
        assert mode(extra) & 0o077 == 0, extra


def test_an_existing_world_readable_database_is_tightened(tmp_path, usual_umask):
    from config.settings import load_settings

    instance = tmp_path / "instance"
    instance.mkdir(mode=0o755)
    (instance / "tsunagi.db").write_bytes(b"")
    (instance / "tsunagi.db").chmod(0o644)
    load_settings(environ={"TSUNAGI_DEBUG": "1"}, instance_path=instance)
    assert mode(instance) == 0o700 and mode(instance / "tsunagi.db") == 0o600


def test_the_dev_org_folder_keys_and_connection_file_are_owner_only(tmp_path, usual_umask):
    from devorg.org import DevOrg

    org = DevOrg(tmp_path / "devorg")
    try:
        org.write_connection()
    finally:
        org.close()
    folder = tmp_path / "devorg"
    assert mode(folder) == 0o700
    for name in ("connection.json", "devorg.sqlite3"):
        assert mode(folder / name) == 0o600, name
    keys = [p for p in folder.rglob("*key*.pem")]
    assert keys and all(mode(p) == 0o600 for p in keys)
    dirs = [p for p in folder.rglob("*") if p.is_dir()]
    assert all(mode(p) == 0o700 for p in dirs)


def test_writing_a_private_file_over_a_readable_one_makes_it_private(tmp_path, usual_umask):
    path = tmp_path / "secret"
    path.write_text("old")
    path.chmod(0o644)
    write_private(path, "new")
    assert path.read_text() == "new" and mode(path) == 0o600
    touch_private(tmp_path / "fresh")
    assert mode(tmp_path / "fresh") == 0o600
    assert mode(private_dir(tmp_path / "a" / "b")) == 0o700
