"""GET /admin/sync: the status page (admins)."""

from __future__ import annotations

from flask import render_template
from flask.typing import ResponseReturnValue

import db
from config import settings_of
from people.auth import role_required
from sync import bp
from sync.status import report


@bp.route("/admin/sync")
@role_required("admin")
def admin_status() -> ResponseReturnValue:
    """Per object: last cycle, records, lag, last error; API calls against the limit, per hour."""
    data = report(db.session(), settings_of().sync_objects)
    peak = max([h["calls"] for h in data["calls_per_hour"]] + [1])
    return render_template("sync/status.html", status=data, peak=peak)
