"""The wheel carries everything a deployment runs: translations, gunicorn settings, migrations, templates."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.db_independent]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    # Build from a clean copy of the checkout's files: setuptools reuses a stale build/lib folder in
    # the source tree, which would hide a package missing from pyproject's list.
    source = tmp_path_factory.mktemp("source")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            check=True, capture_output=True, timeout=60).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--disable-pip-version-check",
                    "--wheel-dir", str(out), str(source)], check=True, capture_output=True, timeout=300)
    [path] = out.glob("tsunagi-*.whl")
    with zipfile.ZipFile(path) as archive:
        yield archive


def test_the_wheel_carries_translations_gunicorn_settings_and_every_migration(wheel):
    names = set(wheel.namelist())
    assert {"translations/en/LC_MESSAGES/messages.mo", "translations/en/LC_MESSAGES/messages.po",
            "translations/messages.pot"} <= names
    assert {"ops/gunicorn_conf.py", "ops/gunicorn_logging.py", "app.py", "db.py"} <= names
    for revision in (ROOT / "migrations" / "versions").glob("*.py"):
        assert f"migrations/versions/{revision.name}" in names
    assert {"migrations/env.py", "migrations/script.py.mako"} <= names
    for folder in ("web/templates", "forms/templates", "mail/templates", "forms/examples", "automations/examples"):
        assert any(name.startswith(folder + "/") for name in names), folder
    assert "web/static/app.css" in names
    assert not any(name.startswith(("tests/", "bench/", "instance/")) for name in names)


def test_the_wheel_compiled_catalog_is_the_one_in_the_checkout(wheel):
    packed = wheel.read("translations/en/LC_MESSAGES/messages.mo")
    assert packed == (ROOT / "translations/en/LC_MESSAGES/messages.mo").read_bytes()


def test_development_libraries_are_only_in_the_dev_extra(wheel):
    [metadata_name] = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    metadata = Parser().parsestr(wheel.read(metadata_name).decode())
    requires = metadata.get_all("Requires-Dist")
    for library in ("faker", "trustme", "aiosmtpd", "honcho"):
        entries = [r for r in requires if r.lower().startswith(library)]
        assert entries and all('extra == "dev"' in r for r in entries), (library, entries)
    assert any(r.lower().startswith("prometheus-client") and "extra" not in r for r in requires)


def test_every_feature_the_app_loads_is_in_the_wheel(wheel):
    """A package added to app.FEATURES but not to pyproject's package list breaks every deployment."""
    from app import FEATURES

    names = set(wheel.namelist())
    for feature in (f.__name__ for f in FEATURES):
        assert f"{feature}/__init__.py" in names or f"{feature}.py" in names, feature
