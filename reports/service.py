"""Report assembly: the date range a person asked for, and each report's rows and charts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from reports import queries
from scoring import service as scoring_service
from web.i18n import gettext as _

MAX_DAYS = 366


class RangeError(ValueError):
    """The date range in the request is not usable; the message says why (translated)."""


@dataclass(frozen=True)
class DateRange:
    """Local calendar days [first, last] and their UTC bounds [start, end)."""

    first: date
    last: date
    zone: ZoneInfo

    @property
    def start(self) -> datetime:
        """The first instant, in UTC."""
        return datetime.combine(self.first, time(0), self.zone).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """The instant after the last day, in UTC."""
        return datetime.combine(self.last + timedelta(days=1), time(0), self.zone).astimezone(UTC)

    def days(self) -> list[str]:
        """Every local day in the range as YYYY-MM-DD."""
        return [(self.first + timedelta(days=i)).isoformat() for i in range((self.last - self.first).days + 1)]

    def local_day(self, when: datetime) -> str:
        """The local calendar day of a UTC instant."""
        return when.astimezone(self.zone).date().isoformat()


def parse_range(args: Any, zone_name: str, today: date | None = None) -> DateRange:
    """`?from=YYYY-MM-DD&to=YYYY-MM-DD` (local days, both included); default: the last 30 days."""
    zone = ZoneInfo(zone_name)
    today = today or datetime.now(zone).date()
    try:
        last = date.fromisoformat(args.get("to")) if args.get("to") else today
        first = date.fromisoformat(args.get("from")) if args.get("from") else last - timedelta(days=29)
    except ValueError:
        raise RangeError(_("日付は 2026-11-01 の形式で入力してください。")) from None
    if first > last:
        raise RangeError(_("開始日は終了日以前にしてください。"))
    if (last - first).days >= MAX_DAYS:
        raise RangeError(_("期間は366日以内にしてください。"))
    return DateRange(first, last, zone)


def rate(part: float, whole: float) -> float:
    """part / whole, 0 when whole is 0."""
    return part / whole if whole else 0.0


FUNNEL_STEPS = ("triggered", "sent", "delivered", "opened", "clicked", "converted")
# The base each funnel step is a rate of (an index into FUNNEL_STEPS; None: no rate). Opened,
# clicked and converted are rates of delivered, as on the automations page; one definition of
# each figure (queries.automation_funnels) serves the overview and the funnels alike:
#   sent      mails of the automation sent (or bounced) in the range
#   delivered those of them not bounced
#   opened    those of them opened at least once (a mail opened 4 times counts once)
#   clicked   those of them with at least one tracked click
#   converted those whose person submitted a form within ATTRIBUTION_DAYS of the mail
FUNNEL_BASES: tuple[int | None, ...] = (None, None, 1, 2, 2, 2)


def funnel_labels() -> dict[str, str]:
    """The translated name of each automation funnel step."""
    return {"triggered": _("開始"), "sent": _("送信"), "delivered": _("配信"), "opened": _("開封"),
            "clicked": _("クリック"), "converted": _("コンバージョン")}


def automations_report(session: Session, rng: DateRange) -> list[dict[str, Any]]:
    """Funnels per automation; open and click rates are against `delivered`."""
    rows = queries.automation_funnels(session, rng.start, rng.end)
    for row in rows:
        row["open_rate"] = rate(row["opened"], row["delivered"])
        row["click_rate"] = rate(row["clicked"], row["delivered"])
        row["conversion_rate"] = rate(row["converted"], row["delivered"])
    return rows


def deliverability_report(session: Session, rng: DateRange) -> dict[str, Any]:
    """Daily series and totals of sent, bounces and unsubscribes."""
    per_day = queries.deliverability(session, rng.start, rng.end, rng.local_day)
    days = rng.days()
    names = ("sent", "hard_bounces", "soft_bounces", "unsubscribes")
    series = {name: [per_day.get(d, {}).get(name, 0) for d in days] for name in names}
    totals = {name: sum(values) for name, values in series.items()}
    bounces = totals["hard_bounces"] + totals["soft_bounces"]
    return {"days": days, "series": series, "totals": totals,
            "bounce_rate": rate(bounces, totals["sent"]), "unsubscribe_rate": rate(totals["unsubscribes"],
                                                                                  totals["sent"])}


def stages_report(session: Session) -> list[tuple[str, int]]:
    """People per stage in the model's order (people without a stage last)."""
    counts = queries.stage_counts(session)
    order = [s.name for s in scoring_service.active_definition(session).stages]
    rows = [(name, counts.get(name, 0)) for name in order]
    rows += [(name or _("未分類"), n) for name, n in counts.items() if name not in order]
    return rows
