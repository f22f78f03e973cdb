"""Health: public probes for load balancers and orchestrators, the detailed status for admins.

- `GET /livez` — the process answers (no database, no Salesforce): restart the process when not 200.
- `GET /readyz` — the process can serve: its database answers `SELECT 1`. 503 only when the
  database does not; Salesforce being down or slow never takes a web node out (the public forms
  and the call-center screens work from the mirror and queue their writes). `/healthz` is the
  same answer, kept for load balancers configured before the split.
- `GET /admin/status` — signed-in admins: every check with details, JSON
  `{"status": "ok"|"degraded"|"down", "down": [names], "checks": {name: {"ok": bool, ...}}}`;
  503 only when the database is down, "degraded" (200) when another check fails. The database
  check reports the depth of every work queue (every `work.models.ClaimableMixin` table).
  Other packages add checks with `register_check` from their `init_app`: `salesforce`
  (reachable, API usage), `sync` (last sync). A check that raises counts as failed, with the
  error's first line.

The public answers carry no error text, queue depth or configuration (docs/security.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify
from sqlalchemy import func, select, text

import db
from people.auth import role_required

bp = Blueprint("health", __name__)

# A check returns (ok, details). Packages add theirs with `register_check` from init_app.
Check = Callable[[], tuple[bool, dict[str, Any]]]


def register_check(app: Flask, name: str, check: Check) -> None:
    """Add a named check to the admin status (/admin/status); readiness never runs it."""
    app.extensions.setdefault("tsunagi.health", {})[name] = check


def queue_depths(session: Any) -> dict[str, int]:
    """Rows waiting or running in every claimable table, by table name."""
    from work.models import ClaimableMixin

    depths = {}
    for mapper in sorted(db.Base.registry.mappers, key=lambda m: m.class_.__tablename__):
        model, name = mapper.class_, mapper.class_.__tablename__
        if issubclass(model, ClaimableMixin):
            depths[name] = session.scalar(
                select(func.count()).select_from(model).where(model.status.in_(("queued", "running")))) or 0
    return depths


def _database() -> tuple[bool, dict[str, Any]]:
    session = db.session()
    session.execute(text("SELECT 1"))
    return True, {"queues": queue_depths(session)}


def _probe(body: dict[str, Any], status: int = 200) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/livez")
def livez() -> Response:
    """The process answers: always 200 while it can run a request."""
    return _probe({"status": "ok"})


@bp.route("/readyz")
@bp.route("/healthz")
def readyz() -> Response:
    """200 when the database answers, else 503; nothing else is checked or shown."""
    try:
        db.session().execute(text("SELECT 1"))
    except Exception:  # any failure to reach the database means: send no traffic here
        current_app.logger.warning("readiness: the database does not answer", exc_info=True)
        db.session().rollback()
        return _probe({"status": "unavailable"}, 503)
    return _probe({"status": "ok"})


def status_report() -> tuple[int, dict[str, Any]]:
    """Run every check: (HTTP status, report). 503 only when the database is down."""
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
    status = "down" if "database" in down else "degraded" if down else "ok"
    return (503 if status == "down" else 200), {"status": status, "down": down, "checks": report}


@bp.route("/admin/status")
@role_required("admin")
def admin_status() -> Response:
    """Every check with its details (admins only)."""
    code, body = status_report()
    return _probe(body, code)
