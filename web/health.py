"""GET /healthz: 200 with what is fine, or 503 naming what is down. Public, JSON only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, current_app
from sqlalchemy import text

import db

bp = Blueprint("health", __name__)

# A check returns (ok, details). Packages add theirs with `register_check` from init_app.
Check = Callable[[], tuple[bool, dict[str, Any]]]


def register_check(app: Flask, name: str, check: Check) -> None:
    """Add a named check to /healthz."""
    app.extensions.setdefault("tsunagi.health", {})[name] = check


def _database() -> tuple[bool, dict[str, Any]]:
    db.session().execute(text("SELECT 1"))
    from work.queue import depth

    return True, {"jobs_waiting": depth(db.session())}


@bp.route("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    """Run every check; 503 when any fails."""
    checks: dict[str, Check] = {"database": _database, **current_app.extensions.get("tsunagi.health", {})}
    report: dict[str, Any] = {}
    down = []
    for name, check in checks.items():
        try:
            ok, details = check()
        except Exception as exc:  # a check that raises is a check that failed
            ok, details = False, {"error": f"{type(exc).__name__}: {exc}"[:300]}
        report[name] = {"ok": ok, **details}
        if not ok:
            down.append(name)
    status = 503 if down else 200
    return {"status": "down" if down else "ok", "down": down, "checks": report}, status
