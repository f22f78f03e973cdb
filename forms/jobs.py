"""Background work of the forms package."""

from __future__ import annotations

import db
from forms.service import refresh_pending


def refresh_submission_status(_worker_id: str) -> int:
    """Work source: move submissions to written/failed as their write-back items finish.

    Returns how many submissions changed, so an idle worker can sleep.
    """
    with db.transaction() as session:
        return refresh_pending(session)
