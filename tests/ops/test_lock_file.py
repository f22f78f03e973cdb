"""requirements.lock pins every runtime dependency of pyproject.toml and nothing of the dev extra."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.db_independent


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            name, version = line.split("==", 1)
            pins[_name(name)] = version.split()[0]
    return pins


def test_every_runtime_dependency_is_pinned_and_no_dev_library_is():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = _pins()
    missing = [r for r in project["dependencies"] if _name(r) not in pins]
    assert not missing, "run the pip-compile command in docs/operations.md to refresh requirements.lock"
    for library in ("faker", "trustme", "aiosmtpd", "honcho", "pytest", "ruff", "playwright"):
        assert library not in pins


def test_heroku_installs_the_lock_then_the_project_on_the_pinned_python():
    assert (ROOT / "requirements.txt").read_text().split("\n")[-3:-1] == ["-r requirements.lock", "."]
    version = (ROOT / ".python-version").read_text().strip()
    assert re.fullmatch(r"3\.1[12]", version)
    assert f"ARG PYTHON_VERSION={version}" in (ROOT / "Dockerfile").read_text()
