"""What the sync is doing, for the status page, `flask sync status` and /healthz."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from db import utcnow
from sync import describe, queries

# /healthz says sync is down when this many cycles in a row failed.
FAILED_CYCLES_DOWN = 3


def report(session: Session, objects: tuple[str, ...]) -> dict[str, Any]:
    """Per object: last cycle, records, lag, last error; runs; API calls per hour; quota state."""
    now = utcnow()
    counts = {name: (int(live or 0), int(deleted or 0))
              for name, live, deleted in session.execute(queries.record_counts())}
    states = {row.object_name: row for row in session.scalars(queries.object_states())}
    types = describe.field_types(session, objects)
    per_object = []
    for name in objects:
        row = states.get(name)
        total, deleted = counts.get(name, (0, 0))
        success = row.last_success_at if row else None
        per_object.append({
            "object": name,
            "records": total - deleted,
            "deleted": deleted,
            "last_cycle_at": row.last_cycle_at.isoformat() if row and row.last_cycle_at else None,
            "last_success_at": success.isoformat() if success else None,
            "lag_seconds": int((now - success).total_seconds()) if success else None,
            "cursor": row.cursor_stamp.isoformat() if row and row.cursor_stamp else None,
            "fields": len(types[name]),
            "last_error": row.last_error if row else None,
        })
    runs = list(session.scalars(queries.recent_runs(20)))
    hours = list(session.scalars(queries.calls_since((now - timedelta(hours=23)).replace(minute=0, second=0,
                                                                                         microsecond=0))))
    usage = session.execute(queries.latest_usage()).first()
    last = runs[0] if runs else None
    return {
        "objects": per_object,
        "last_run": _run(last) if last else None,
        "runs": [_run(r) for r in runs],
        "quota_stopped": bool(last and last.outcome == "quota"),
        "calls_24h": sum(h.calls for h in hours),
        "calls_per_hour": [{"hour": h.hour.isoformat(), "calls": h.calls} for h in hours],
        "api_used": usage[0] if usage else None,
        "api_max": usage[1] if usage else None,
    }


def _run(run: Any) -> dict[str, Any]:
    return {"started_at": run.started_at.isoformat(), "outcome": run.outcome, "api_calls": run.api_calls,
            "records": run.records, "error": run.error}


def health(session: Session) -> tuple[bool, dict[str, Any]]:
    """Down when the last FAILED_CYCLES_DOWN finished cycles all failed; details name the last success."""
    runs = [r for r in session.scalars(queries.recent_runs(FAILED_CYCLES_DOWN + 5))
            if r.outcome not in ("running", "busy")]
    last_ok = next((r for r in runs if r.outcome == "ok"), None)
    recent = runs[:FAILED_CYCLES_DOWN]
    failing = len(recent) == FAILED_CYCLES_DOWN and all(r.outcome == "failed" for r in recent)
    details: dict[str, Any] = {"last_success": last_ok.started_at.isoformat() if last_ok else None,
                               "last_outcome": runs[0].outcome if runs else None}
    if failing:
        details["error"] = (recent[0].error or "")[:300]
    return not failing, details
