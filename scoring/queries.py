"""Named SQL statements and expressions of scoring, built from a checked scoring model.

Scores are computed set-based in the database (one UPDATE per step, for one person or for a
million), so that a full rescore never streams people through Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Integer,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from config.person_model import PREFIXES
from db import insert_for
from scoring.definition import FitRule, ScoringDefinition
from scoring.models import PersonScore, ScoreEvent
from sync import read
from sync.read import Mirror


def _fit_condition(rule: FitRule, dialect: str) -> ColumnElement[bool]:
    if rule.values:
        text = func.coalesce(*(func.nullif(read.field_text(f), "") for f in rule.fields), None) \
            if len(rule.fields) > 1 else read.field_text(rule.fields[0])
        return text.in_(rule.values)
    number = (func.coalesce(*(read.field_number(f) for f in rule.fields))
              if len(rule.fields) > 1 else read.field_number(rule.fields[0]))
    parts: list[ColumnElement[bool]] = [number.is_not(None)]
    if rule.minimum is not None:
        parts.append(number >= rule.minimum)
    if rule.maximum is not None:
        parts.append(number <= rule.maximum)
    return and_(*parts)


def fit_points(definition: ScoringDefinition, dialect: str) -> ColumnElement[int]:
    """Sum of the fit rules a mirror row matches (an expression over Mirror)."""
    terms = [case((_fit_condition(rule, dialect), rule.points), else_=0) for rule in definition.fit]
    total: ColumnElement[int] = literal(0, Integer)
    for term in terms:
        total = total + term
    return total


def rule_points(definition: ScoringDefinition) -> ColumnElement[int]:
    """Current points of a ledger row's rule (unknown rules, e.g. removed from the model, earn 0)."""
    if not definition.behaviour:
        return literal(0, Integer)
    return case({rule.name: rule.points for rule in definition.behaviour}, value=ScoreEvent.rule, else_=0)


def keep_percent(definition: ScoringDefinition, now: datetime) -> ColumnElement[int]:
    """Decay: the percent of its points a ledger row still counts at `now`."""
    steps = sorted(definition.decay, key=lambda s: s.older_than_days, reverse=True)
    if not steps:
        return literal(100, Integer)
    return case(*((ScoreEvent.occurred_at <= now - timedelta(days=s.older_than_days), s.keep_percent)
                  for s in steps), else_=100)


def behaviour_subquery(definition: ScoringDefinition, now: datetime) -> ColumnElement[int]:
    """A person's decayed behaviour points (correlated with PersonScore); integer, truncated."""
    summed = func.sum(rule_points(definition) * keep_percent(definition, now))
    return func.coalesce(
        select(cast(summed, Integer) // 100).where(ScoreEvent.person_id == PersonScore.person_id)
        .scalar_subquery(), 0)


def fit_subquery(definition: ScoringDefinition, dialect: str) -> ColumnElement[int]:
    """A person's fit points from their mirror row (correlated with PersonScore)."""
    if not definition.fit:
        return literal(0, Integer)
    return func.coalesce(
        select(fit_points(definition, dialect))
        .where(Mirror.sf_id == PersonScore.person_id, Mirror.is_deleted.is_(False))
        .scalar_subquery(), 0)


def stage_expression(definition: ScoringDefinition, score: ColumnElement[int]) -> ColumnElement[str]:
    """The highest stage whose minimum score and behaviour requirement the person meets."""
    if not definition.stages:
        return literal("")
    whens = []
    for stage in reversed(definition.stages):
        condition = score >= stage.min_score
        if stage.requires_any:
            condition = and_(condition, exists().where(ScoreEvent.person_id == PersonScore.person_id,
                                                       ScoreEvent.rule.in_(stage.requires_any)))
        whens.append((condition, stage.name))
    return case(*whens, else_=literal(""))


def scope(person_ids: Sequence[str] | None) -> list[ColumnElement[bool]]:
    """WHERE clauses limiting a rescore to some people (None: everybody)."""
    return [] if person_ids is None else [PersonScore.person_id.in_(list(person_ids))]


def recompute_parts(definition: ScoringDefinition, dialect: str, now: datetime,
                    person_ids: Sequence[str] | None) -> Any:
    """Step 1: remember the old score and recompute behaviour and fit."""
    return (update(PersonScore).where(*scope(person_ids))
            .values(previous_score=PersonScore.score,
                    behaviour=behaviour_subquery(definition, now),
                    fit=fit_subquery(definition, dialect))
            .execution_options(synchronize_session=False))


def apply_totals(definition: ScoringDefinition, now: datetime, person_ids: Sequence[str] | None) -> Any:
    """Step 2: total, stage, version bump and write-back window start for changed scores."""
    new = PersonScore.behaviour + PersonScore.fit
    changed = new != PersonScore.score
    return (update(PersonScore).where(*scope(person_ids))
            .values(score=new,
                    stage=stage_expression(definition, new),
                    version=PersonScore.version + case((changed, 1), else_=0),
                    pending_since=case((and_(changed, PersonScore.pending_since.is_(None)), now),
                                       else_=PersonScore.pending_since),
                    updated_at=case((changed, now), else_=PersonScore.updated_at))
            .execution_options(synchronize_session=False))


def changed_people(person_ids: Sequence[str] | None) -> Any:
    """People whose score changed in the last rescore: (person_id, before, after)."""
    return (select(PersonScore.person_id, PersonScore.previous_score, PersonScore.score)
            .where(*scope(person_ids), PersonScore.score != PersonScore.previous_score))


def crossed(score: int, person_ids: Sequence[str] | None) -> Any:
    """People whose last rescore took them from below `score` to at least `score`."""
    return (select(PersonScore.person_id, PersonScore.previous_score, PersonScore.score)
            .where(*scope(person_ids), PersonScore.previous_score < score, PersonScore.score >= score)
            .order_by(PersonScore.person_id))


def object_for_id(column: ColumnElement[str]) -> ColumnElement[str]:
    """The person object of a Salesforce Id from its key prefix (00Q Lead, 003 Contact, 001 Account)."""
    whens = [(func.substr(column, 1, 3) == prefix, name) for name, prefix in PREFIXES.items()]
    return case(*whens, else_="Lead")


def _new_person_columns(id_column: ColumnElement[str] | InstrumentedAttribute[str],
                        object_column: ColumnElement[str] | InstrumentedAttribute[str], now: datetime) -> list[Any]:
    zero = literal(0, Integer)
    return [id_column, object_column, zero, zero, zero, zero, literal(""), zero, zero,
            literal(now, PersonScore.updated_at.type)]


_NEW_PERSON_TARGETS = ["person_id", "object_name", "behaviour", "fit", "score", "previous_score", "stage",
                       "version", "written_version", "updated_at"]


# ON CONFLICT DO NOTHING rather than NOT EXISTS: when PostgreSQL's statistics said person_scores
# was empty (analyzed before scoring was first used) the anti-join re-scanned the table for every
# row while the same INSERT grew it — minutes at 40,000 people, hours at a million.
def _insert_new_people(dialect: str, source: Any) -> Any:
    return insert_for(dialect, PersonScore).from_select(_NEW_PERSON_TARGETS, source).on_conflict_do_nothing(
        index_elements=["person_id"])


def add_missing_people_from_mirror(now: datetime, dialect: str) -> Any:
    """Give every person in the mirror (the person model's: Leads, Contacts, Person Accounts…) a score row."""
    source = (select(*_new_person_columns(Mirror.sf_id, Mirror.object_name, now))
              .where(*read.is_person(Mirror)))
    return _insert_new_people(dialect, source)


def add_missing_people_from_ledger(now: datetime, dialect: str) -> Any:
    """Give everybody with scored activity a score row (even before sync has mirrored them)."""
    ids = select(ScoreEvent.person_id).distinct().subquery()
    # SQLite reads "FROM … ON CONFLICT" as a join's ON unless the SELECT has a WHERE.
    return _insert_new_people(dialect, select(*_new_person_columns(ids.c.person_id, object_for_id(ids.c.person_id),
                                                                   now)).where(true()))


def people_due_for_decay(definition: ScoringDefinition, now: datetime, window: timedelta) -> Any:
    """People with ledger rows that passed a decay step's age within the last `window`."""
    conditions = [and_(ScoreEvent.occurred_at <= now - timedelta(days=s.older_than_days),
                       ScoreEvent.occurred_at > now - timedelta(days=s.older_than_days) - window)
                  for s in definition.decay]
    if not conditions:
        return select(ScoreEvent.person_id).where(literal(False))
    return select(ScoreEvent.person_id).where(or_(*conditions)).distinct()
