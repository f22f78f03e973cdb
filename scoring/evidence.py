"""Which activities may earn points: behaviour counts only when it is proven and not repeated.

A score hands people to sales (threshold crossings mail the owner and create a Task), so points
must not be cheap to forge from outside:

- **One open per mail.** The open pixel is a public URL; a mail client, a proxy or anyone who
  has the mail can fetch it again and again. Only the first open of a mail (by its recipient)
  earns points; later ones stay recorded as activity for reports.
- **Page views capped per visitor and window.** The tracking pixel is public too, so a linked
  browser (or a script replaying its visitor id) could request it without end. At most
  SCORING_PAGE_VIEWS_PER_WINDOW page views of one visitor earn points per
  SCORING_PAGE_VIEW_WINDOW_SECONDS (fixed windows counted from the epoch, so every worker agrees).

Linking a visitor to a person at all needs a signed token (mail click, signed form link): see
scoring.tracking and forms.service.proves_person.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from activity.models import Activity
from scoring import progress
from scoring.models import ScoreEvent

# Defaults of the settings of the same names (config.settings), for callers without an app.
PAGE_VIEWS_PER_WINDOW = 10
PAGE_VIEW_WINDOW_SECONDS = 3600


def _mail_id(activity: Activity) -> int | None:
    value = (activity.details or {}).get("mail_id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass
class Evidence:
    """What earned points already, for one batch of activities; `counts` decides each activity in turn."""

    per_window: int
    window_seconds: int
    opened: set[tuple[str, int]] = field(default_factory=set)
    views: Counter[tuple[str, int]] = field(default_factory=Counter)

    def window(self, when: datetime) -> int:
        """The number of the fixed window `when` falls in."""
        return int(when.timestamp()) // self.window_seconds

    def counts(self, activity: Activity) -> bool:
        """True when `activity` (of a known person, matching a rule) may earn points; remembers it."""
        if activity.kind == "mail_open" and (mail_id := _mail_id(activity)) is not None:
            key = (activity.person_id or "", mail_id)
            if key in self.opened:
                return False
            self.opened.add(key)
        elif activity.kind == "page_view" and activity.visitor_id:
            slot = (activity.visitor_id, self.window(activity.occurred_at))
            if self.views[slot] >= self.per_window:
                return False
            self.views[slot] += 1
        return True


def load_evidence(session: Session, activities: Sequence[Activity], per_window: int = PAGE_VIEWS_PER_WINDOW,
                  window_seconds: int = PAGE_VIEW_WINDOW_SECONDS) -> Evidence:
    """The opens and page views that already earned points, as far as this batch can repeat them.

    Call before the batch leaves scoring's queue (its rows are still queued, so the queries see
    only earlier batches). Two queries, each bounded by the batch's people and visitors.
    """
    evidence = Evidence(per_window=per_window, window_seconds=window_seconds)
    batch = [a.id for a in activities]
    opens = [a for a in activities if a.kind == "mail_open" and a.person_id and _mail_id(a) is not None]
    if opens:
        mail_id = Activity.details["mail_id"].as_integer()
        rows = session.execute(
            select(Activity.person_id, mail_id)
            .where(Activity.kind == "mail_open", Activity.person_id.in_({a.person_id for a in opens}),
                   mail_id.in_({_mail_id(a) for a in opens}), progress.scored(session),
                   Activity.id.not_in(batch)))
        evidence.opened.update((person, mail) for person, mail in rows if person and mail is not None)
    views = [a for a in activities if a.kind == "page_view" and a.visitor_id]
    if views:
        since = datetime.fromtimestamp(min(evidence.window(a.occurred_at) for a in views) * window_seconds,
                                       tz=views[0].occurred_at.tzinfo)
        rows = session.execute(
            select(Activity.visitor_id, Activity.occurred_at)
            .join(ScoreEvent, ScoreEvent.activity_id == Activity.id)
            .where(Activity.kind == "page_view", Activity.visitor_id.in_({a.visitor_id for a in views}),
                   Activity.occurred_at >= since, Activity.id.not_in(batch)))
        for visitor, when in rows:
            evidence.views[(visitor, evidence.window(when))] += 1
    return evidence
