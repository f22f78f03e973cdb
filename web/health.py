"""GET /healthz: 200 with what is fine, or 503 naming what is down. Public, JSON only.

The body is `{"status": "ok"|"down", "down": [names], "checks": {name: {"ok": bool, ...}}}`.
The shell's own `database` check also reports the depth of every work queue — every table built
on `work.models.ClaimableMixin` (jobs, mail outbox, write-back, …) — as rows queued or running.
Other packages add checks with `register_check` from their `init_app`: `salesforce` (reachable,
API usage), `sync` (last sync). A check that raises counts as down, with the error's first line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, current_app
from sqlalchemy import func, select, text

import db

bp = Blueprint("health", __name__)

# A check returns (ok, details). Packages add theirs with `register_check` from init_app.
Check = Callable[[], tuple[bool, dict[str, Any]]]


def register_check(app: Flask, name: str, check: Check) -> None:
    """Add a named check to /healthz."""
    app.extensions.setdefault("tsunagi.health", {})[name] = check


def queue_depths(session: Any) -> dict[str, int]:
    """Rows waiting or running in every claimable table, by table name."""
    from work.models import ClaimableMixin

    depths = {}
    for mapper in sorted(db.Base.registry.mappers, key=lambda m: m.local_table.name):
        model = mapper.class_
        if issubclass(model, ClaimableMixin):
            depths[mapper.local_table.name] = session.scalar(
                select(func.count()).select_from(model).where(model.status.in_(("queued", "running")))) or 0
    return depths


def _database() -> tuple[bool, dict[str, Any]]:
    session = db.session()
    session.execute(text("SELECT 1"))
    return True, {"queues": queue_depths(session)}


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
            first_line = (str(exc).strip().splitlines() or [""])[0]
            ok, details = False, {"error": f"{type(exc).__name__}: {first_line}"[:300]}
            db.session().rollback()  # leave the request's session usable for the next check
        report[name] = {"ok": ok, **details}
        if not ok:
            down.append(name)
    status = 503 if down else 200
    response = current_app.json.response({"status": "down" if down else "ok", "down": down, "checks": report})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response
