"""Scoring: the active model, scoring new activity, rescoring, decay and threshold crossings.

Everything runs inside the caller's transaction. A rescore is four set-based statements (see
scoring.queries), so it costs the same code path for one person and for a million.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, literal, select, update
from sqlalchemy.orm import Session

from activity import feed
from activity.models import Activity
from config.person_model import PREFIXES
from db import rows_matched, utcnow
from scoring import evidence, handoff, progress, queries
from scoring.definition import (
    DEFAULT_PATH,
    ScoringDefinition,
    default_definition,
    dump_yaml,
    parse_document,
    parse_yaml,
)
from scoring.models import (
    PersonScore,
    ScoreEvent,
    ScoreHistory,
    ScoreThresholdCrossed,
    ScoringModel,
    ScoringQueue,
    TrackingVisitor,
)

log = logging.getLogger(__name__)

ACTIVE = "active"
# SQLite allows 32,766 bound parameters; 900 keeps IN lists well inside it and PostgreSQL plans fast.
CHUNK = 900


def active_definition(session: Session) -> ScoringDefinition:
    """The model in force: the imported one, or the shipped default when none was imported."""
    row = session.get(ScoringModel, ACTIVE)
    return parse_document(row.document) if row is not None else default_definition()


def definition_path() -> Path:
    """Where the shipped default model lives (scoring/examples/default.yaml)."""
    return DEFAULT_PATH


def active_yaml(session: Session) -> str:
    """The model in force as YAML (for export and the admin editor)."""
    return dump_yaml(active_definition(session).document)


def import_model(session: Session, text: str, by: str = "") -> ScoringDefinition:
    """Check and store a YAML model as the active one (raises DocumentError with every reason)."""
    definition = parse_yaml(text)
    row = session.get(ScoringModel, ACTIVE)
    if row is None:
        session.add(ScoringModel(key=ACTIVE, document=definition.document, version=1, updated_by=by))
    else:
        row.document = definition.document
        row.version += 1
        row.updated_at = utcnow()
        row.updated_by = by
    session.flush()
    return definition


@dataclass(frozen=True)
class RescoreResult:
    """What a rescore did."""

    people: int
    changed: int
    crossings: int


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def rescore(session: Session, person_ids: Sequence[str] | None = None,
            reason: str | dict[str, str] = "再計算", now: datetime | None = None,
            definition: ScoringDefinition | None = None) -> RescoreResult:
    """Recompute behaviour (with decay), fit, total and stage; log history; fire crossings.

    `person_ids` None rescores everybody (and first gives every mirrored Lead/Contact a row).
    `reason` is one text for all, or a text per person (people missing from it get "再計算").
    """
    now = now or utcnow()
    definition = definition or active_definition(session)
    dialect = _dialect(session)
    if person_ids is None:
        session.execute(queries.add_missing_people_from_mirror(now, dialect))
        session.execute(queries.add_missing_people_from_ledger(now, dialect))
        return _rescore_scope(session, definition, dialect, None, reason, now)
    ids = sorted(set(person_ids))
    total = RescoreResult(0, 0, 0)
    for start in range(0, len(ids), CHUNK):
        part = _rescore_scope(session, definition, dialect, ids[start:start + CHUNK], reason, now)
        total = RescoreResult(total.people + part.people, total.changed + part.changed,
                              total.crossings + part.crossings)
    return total


def _rescore_scope(session: Session, definition: ScoringDefinition, dialect: str,
                   ids: Sequence[str] | None, reason: str | dict[str, str], now: datetime) -> RescoreResult:
    people = rows_matched(session, queries.recompute_parts(definition, dialect, now, ids))
    session.execute(queries.apply_totals(definition, now, ids))
    if isinstance(reason, str):
        history = insert(ScoreHistory).from_select(
            ["person_id", "score_before", "score_after", "reason", "changed_at"],
            select(PersonScore.person_id, PersonScore.previous_score, PersonScore.score,
                   literal(reason, ScoreHistory.reason.type), literal(now, ScoreHistory.changed_at.type))
            .where(*queries.scope(ids), PersonScore.score != PersonScore.previous_score))
        session.execute(history)
        # rowcount of INSERT … SELECT is not reported by every driver; count the rows instead.
        changed = session.scalar(select(func.count()).select_from(PersonScore)
                                 .where(*queries.scope(ids), PersonScore.score != PersonScore.previous_score))
    else:
        rows = session.execute(queries.changed_people(ids)).all()
        session.add_all(ScoreHistory(person_id=pid, score_before=before, score_after=after,
                                     reason=reason.get(pid, "再計算"), changed_at=now)
                        for pid, before, after in rows)
        changed = len(rows)
    crossings = 0
    for threshold in definition.thresholds:
        for person_id, previous, score in session.execute(queries.crossed(threshold.score, ids)).all():
            crossings += _record_crossing(session, threshold, person_id, previous, score, now)
    session.flush()
    return RescoreResult(people or 0, changed or 0, crossings)


def _record_crossing(session: Session, threshold: Any, person_id: str, previous: int, score: int,
                     now: datetime) -> int:
    """Store one crossing (numbered per person and threshold) and hand the person over."""
    crossings_so_far = session.scalar(select(func.max(ScoreThresholdCrossed.crossing_no))
                                      .where(ScoreThresholdCrossed.person_id == person_id,
                                             ScoreThresholdCrossed.threshold == threshold.name)) or 0
    crossing = ScoreThresholdCrossed(person_id=person_id, threshold=threshold.name,
                                     crossing_no=crossings_so_far + 1,
                                     score=score, crossed_at=now)
    session.add(crossing)
    session.flush()
    crossing.handoff = handoff.hand_over(session, threshold, crossing, previous)
    return 1


def resolve_people(session: Session, visitor_ids: Iterable[str]) -> dict[str, str]:
    """Known people of web visitor ids."""
    ids = [v for v in set(visitor_ids) if v]
    if not ids:
        return {}
    rows = session.execute(select(TrackingVisitor.visitor_id, TrackingVisitor.person_id)
                           .where(TrackingVisitor.visitor_id.in_(ids)))
    return {visitor: person for visitor, person in rows}


def score_new_activity(session: Session, limit: int = 500, now: datetime | None = None,
                       page_views_per_window: int = evidence.PAGE_VIEWS_PER_WINDOW,
                       page_view_window_seconds: int = evidence.PAGE_VIEW_WINDOW_SECONDS) -> int:
    """Claim up to `limit` unscored activities, add their points to the ledger, rescore those people.

    New activities are first taken into scoring's queue (scoring.progress, activity.feed); queued
    rows are locked with SKIP LOCKED on PostgreSQL, so several workers split the backlog.
    An anonymous page view leaves the queue unscored until its visitor is linked to a person
    (`scoring.tracking.link_visitor` puts it back in the queue). Only page views are given to
    their visitor's person: a form submission also carries the browser's visitor id, but its
    person is the submission's (a new Lead is named on it once written, see forms.service).
    Repeated opens of one mail and page views over the per-visitor cap earn nothing (scoring.evidence).
    """
    now = now or utcnow()
    progress.take_in(session)
    activities = feed.claim(session, ScoringQueue, limit)
    if not activities:
        return 0
    definition = active_definition(session)
    proven = evidence.load_evidence(session, activities, page_views_per_window, page_view_window_seconds)
    browsing = [a for a in activities if a.person_id is None and a.visitor_id and a.kind == "page_view"]
    visitors = resolve_people(session, (a.visitor_id for a in browsing if a.visitor_id))
    reasons: dict[str, list[str]] = {}
    ledger: list[dict[str, Any]] = []
    feed.done(session, ScoringQueue, [a.id for a in activities])
    for activity in activities:
        if activity.person_id is None and activity.kind == "page_view":
            activity.person_id = visitors.get(activity.visitor_id or "")
        person_id = activity.person_id
        if person_id is None:
            continue
        if staff_entry(activity):
            continue
        rule = definition.match(activity.kind, activity.details or {})
        if rule is None or not proven.counts(activity):
            continue
        ledger.append({"person_id": person_id, "rule": rule.name, "activity_id": activity.id,
                       "occurred_at": activity.occurred_at, "recorded_at": now})
        reasons.setdefault(person_id, []).append(f"{rule.label} {rule.points:+d}")
    if ledger:
        session.execute(insert(ScoreEvent), ledger)
        ensure_people(session, reasons, now)
        rescore(session, list(reasons), reason={p: "、".join(r) for p, r in reasons.items()}, now=now,
                definition=definition)
    session.flush()
    return len(activities)


def staff_entry(activity: Activity) -> bool:
    """True for a form an operator or field rep filled in for the person (forms marks it `entered_by`).

    Such an entry records what staff did (a visit, a phone order), not the person's own
    engagement, so it earns no behaviour points.
    """
    return (activity.details or {}).get("entered_by") == "staff"


def ensure_people(session: Session, person_ids: Iterable[str], now: datetime | None = None) -> None:
    """Create score rows for people who have none yet."""
    ids = sorted(set(person_ids))
    existing = set(session.scalars(select(PersonScore.person_id).where(PersonScore.person_id.in_(ids))))
    for person_id in ids:
        if person_id not in existing:
            session.add(PersonScore(person_id=person_id, object_name=object_name_for(person_id),
                                    updated_at=now or utcnow()))
    session.flush()


def object_name_for(person_id: str) -> str:
    """The person object of an Id from its key prefix (00Q Lead, 003 Contact, 001 Account)."""
    return next((name for name, prefix in PREFIXES.items() if person_id.startswith(prefix)), "Lead")


def decay(session: Session, now: datetime | None = None, window: timedelta = timedelta(hours=3)) -> int:
    """Rescore people whose activity passed a decay age recently (run hourly; the 3-hour window
    covers a missed run, and rescoring a correct score changes nothing)."""
    now = now or utcnow()
    definition = active_definition(session)
    ids = list(session.scalars(queries.people_due_for_decay(definition, now, window)))
    if not ids:
        return 0
    return rescore(session, ids, reason="時間経過による減衰", now=now, definition=definition).changed


def score_history(session: Session, person_id: str, limit: int = 100) -> list[ScoreHistory]:
    """A person's latest score changes, newest first."""
    return list(session.scalars(select(ScoreHistory).where(ScoreHistory.person_id == person_id)
                                .order_by(ScoreHistory.id.desc()).limit(limit)))


def mark_written(session: Session, person_ids: Sequence[str], versions: dict[str, int],
                 scores: dict[str, int]) -> None:
    """Record which score version was handed to the write-back queue."""
    for person_id in person_ids:
        session.execute(update(PersonScore).where(PersonScore.person_id == person_id)
                        .values(written_version=versions[person_id], written_score=scores[person_id],
                                pending_since=None)
                        .execution_options(synchronize_session=False))
