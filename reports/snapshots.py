"""Precomputed report figures: the `reports.refresh` job computes what is too costly per request.

Data quality (duplicates, invalid addresses and numbers, missing fields) reads the whole mirror,
the automation funnel joins every mail of the range to its opens and clicks, and a broad
segment's count reads every person: seconds to minutes with millions of people. The job
(work/schedule.py, every REPORTS_REFRESH_SECONDS) stores them in `report_snapshots`; pages show
a snapshot with its age when one is fresh enough (younger than twice the interval) and compute
live otherwise, as on a new installation.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from automations import segments
from automations.models import Segment
from config import settings_of
from db import get_db, utcnow
from reports.models import ReportSnapshot

DATA_QUALITY = "data_quality"
# Data-quality findings are stored in chunks of one page each, so a page reads one small row.
DATA_QUALITY_CHUNK = 200
SECTIONS = ("pairs", "invalid", "missing")


def segment_key(segment_key: str) -> str:
    """The snapshot key of a segment's count."""
    return f"segment:{segment_key}"


def funnels_key(first: Any, last: Any) -> str:
    """The snapshot key of the automation figures for local days [first, last]."""
    return f"automations:{first}:{last}"


def opportunities_key(first: Any, last: Any) -> str:
    """The snapshot key of the sales funnel (商談ファネル) for local days [first, last]."""
    return f"opportunities:{first}:{last}"


def fresh(session: Session, key: str, max_age_seconds: int) -> ReportSnapshot | None:
    """The snapshot `key` when it was computed within `max_age_seconds`, else None."""
    snapshot = session.get(ReportSnapshot, key)
    if snapshot is None or utcnow() - snapshot.computed_at > timedelta(seconds=max_age_seconds):
        return None
    return snapshot


def fresh_or_live(session: Session, key: str, compute: Callable[[], Any],
                  part: str | None = None) -> tuple[Any, ReportSnapshot | None]:
    """A copy of the fresh snapshot `key` (or of its `part`) and the snapshot (pages say its age);
    else `compute()` now and None. A copy: pages add labels and charts to the figures they show."""
    snapshot = fresh(session, key, max_age())
    if snapshot is not None and (part is None or part in snapshot.data):
        return copy.deepcopy(snapshot.data if part is None else snapshot.data[part]), snapshot
    return compute(), None


def save(session: Session, key: str, compute: Callable[[], dict[str, Any]]) -> ReportSnapshot:
    """Compute and store (replace) the snapshot `key`."""
    started = time.perf_counter()
    data = compute()
    return _put(session, key, data, round((time.perf_counter() - started) * 1000))


def _put(session: Session, key: str, data: dict[str, Any], took: int) -> ReportSnapshot:
    snapshot = session.get(ReportSnapshot, key)
    if snapshot is None:
        snapshot = ReportSnapshot(key=key)
        session.add(snapshot)
    snapshot.data, snapshot.computed_at, snapshot.took_ms = data, utcnow(), took
    session.flush()
    return snapshot


def max_age() -> int:
    """How old a snapshot a page may show: twice the refresh interval."""
    return 2 * settings_of().reports_refresh_seconds


def data_quality_figures(session: Session, required: tuple[str, ...]) -> dict[str, Any]:
    """Every data-quality finding (up to dedupe.MAX_PAIRS / MAX_ROWS of each kind), JSON-ready."""
    from reports import dedupe

    def side(record: Any) -> dict[str, Any]:
        fields = record.fields or {}
        return {"sf_id": record.sf_id, "object_name": record.object_name,
                "fields": {k: fields.get(k) for k in ("LastName", "FirstName", "Company", "Account.Name")
                           if fields.get(k)}}

    return {"pairs": [{"first": side(p.first), "second": side(p.second), "reasons": p.reasons}
                      for p in dedupe.duplicate_pairs(session, exclude_dismissed=False)],
            "invalid": dedupe.invalid_contacts(session), "missing": dedupe.missing_fields(session, required)}


def save_data_quality(session: Session, required: tuple[str, ...]) -> ReportSnapshot:
    """Compute data quality; store the totals under DATA_QUALITY and each page of findings apart."""
    started = time.perf_counter()
    found = data_quality_figures(session, required)
    took = round((time.perf_counter() - started) * 1000)
    written = set()
    for section in SECTIONS:
        rows = found[section]
        for number in range(max(1, -(-len(rows) // DATA_QUALITY_CHUNK))):
            key = f"{DATA_QUALITY}:{section}:{number}"
            _put(session, key, {"rows": rows[number * DATA_QUALITY_CHUNK:(number + 1) * DATA_QUALITY_CHUNK]}, took)
            written.add(key)
    for old in session.scalars(select(ReportSnapshot).where(ReportSnapshot.key.like(f"{DATA_QUALITY}:%"))):
        if old.key not in written:
            session.delete(old)
    return _put(session, DATA_QUALITY, {"totals": {s: len(found[s]) for s in SECTIONS}}, took)


def data_quality_rows(session: Session, section: str, page: int | None = None) -> list[Any]:
    """The stored findings of one section: one page (1-based), or all of them when page is None."""
    if page is not None:
        chunk = session.get(ReportSnapshot, f"{DATA_QUALITY}:{section}:{page - 1}")
        return list(chunk.data["rows"]) if chunk is not None else []
    chunks = session.scalars(select(ReportSnapshot).where(ReportSnapshot.key.like(f"{DATA_QUALITY}:{section}:%")))
    return [row for chunk in sorted(chunks, key=lambda c: int(c.key.rsplit(":", 1)[1])) for row in chunk.data["rows"]]


def automation_figures(session: Session, rng: Any) -> dict[str, Any]:
    """The overview's, the automation report's and the campaign report's figures for one date range, JSON-ready."""
    from reports import queries, service

    return {"funnels": service.automations_report(session, rng),
            "deliverability": service.deliverability_report(session, rng),
            "kinds": queries.kind_counts(session, rng.start, rng.end),
            # Grouping every CampaignMember and the range's status changes on JSON values: ~1 s at 1M people.
            "campaigns": queries.campaign_figures(session, rng.start, rng.end)}


def _segment_count(session: Session, spec: dict[str, Any]) -> dict[str, Any]:
    return {"count": segments.count(session, spec)}


def refresh_steps(required: tuple[str, ...], zone: str,
                  now: datetime | None = None) -> list[Callable[[Session], None]]:
    """The job's steps, each to run in its own transaction: data quality, the default range's
    automation figures and sales funnel (dropping earlier days' ones), every segment's count."""
    from reports import service

    rng = service.parse_range({}, zone, today=(now or utcnow()).astimezone(service.ZoneInfo(zone)).date())
    current = funnels_key(rng.first, rng.last)

    def figures(session: Session) -> None:
        save(session, current, lambda: automation_figures(session, rng))
        # Snapshots of earlier days' default ranges are never read again.
        for old in session.scalars(select(ReportSnapshot).where(ReportSnapshot.key.like("automations:%"),
                                                                ReportSnapshot.key != current)):
            session.delete(old)

    from reports import opportunities

    today = (now or utcnow()).astimezone(service.ZoneInfo(zone)).date()
    sales = service.parse_range({"from": opportunities.default_from(today).isoformat()}, zone, today=today)
    sales_key = opportunities_key(sales.first, sales.last)

    def funnel(session: Session) -> None:
        save(session, sales_key, lambda: opportunities.figures(session, sales))
        for old in session.scalars(select(ReportSnapshot).where(ReportSnapshot.key.like("opportunities:%"),
                                                                ReportSnapshot.key != sales_key)):
            session.delete(old)

    def counts(session: Session) -> None:
        for segment in session.scalars(select(Segment).order_by(Segment.key)):
            save(session, segment_key(segment.key), partial(_segment_count, session, segment.spec))

    def quality(session: Session) -> None:
        save_data_quality(session, required)

    return [quality, figures, funnel, counts]


def refresh(session: Session, required: tuple[str, ...], zone: str, now: datetime | None = None) -> None:
    """Recompute data quality, the default range's automation figures and segment counts in `session`."""
    for step in refresh_steps(required, zone, now):
        step(session)


def refresh_job(_payload: dict[str, Any]) -> None:
    """Job `reports.refresh`: recompute the snapshots, one transaction per step (no long-held snapshot
    of the database while the slow data-quality step runs, and each finished step is kept)."""
    settings = settings_of()
    database = get_db(current_app)
    for step in refresh_steps(settings.data_quality_required_fields, settings.timezone):
        with database.transaction() as session:
            step(session)
