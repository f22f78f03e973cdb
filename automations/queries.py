"""Named statements of the automations package."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from automations.models import Automation, AutomationRun, Enrollment, PlannedStep
from db import insert_for

# One statement per (dialect, table, conflict key), with the values as bound parameters: building
# `insert(Model).values(**row)` for every entry cost ~1 ms of Python per row (coercing each value,
# computing cache keys, the ORM's bulk path) — more than the database's own work.
_INSERT_IGNORING: dict[tuple[str, str, tuple[str, ...]], Any] = {}


def _insert_ignoring(session: Session, model: Any, conflict: list[str]) -> Any:
    """INSERT … ON CONFLICT (conflict) DO NOTHING RETURNING id and the conflict columns (cached)."""
    dialect = session.get_bind().dialect.name
    key = (dialect, model.__tablename__, tuple(conflict))
    stmt = _INSERT_IGNORING.get(key)
    if stmt is None:
        table = model.__table__
        stmt = (insert_for(dialect, table).on_conflict_do_nothing(index_elements=conflict)
                .returning(table.c.id, *(table.c[name] for name in conflict)))
        _INSERT_IGNORING[key] = stmt
    return stmt


def insert_ignoring_duplicates(session: Session, model: Any, values: dict[str, Any], conflict: list[str]) -> Any:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id: the new row's id, or None when the key existed."""
    return session.execute(_insert_ignoring(session, model, conflict), values).scalar()


def insert_many_ignoring_duplicates(session: Session, model: Any, rows: list[dict[str, Any]],
                                    conflict: list[str]) -> Sequence[Any]:
    """One multi-row INSERT … ON CONFLICT DO NOTHING; returns the inserted rows (id and the conflict key).

    Rows whose key existed, or repeats a row earlier in `rows`, are left out of the result.
    """
    if not rows:
        return []
    # A list of parameter sets: SQLAlchemy's "insertmanyvalues" sends them as multi-row VALUES in
    # pages, compiling the statement once.
    return session.execute(_insert_ignoring(session, model, conflict), rows).all()



def enabled_automations() -> Select[Automation]:
    """Every enabled automation."""
    return select(Automation).where(Automation.enabled.is_(True)).order_by(Automation.id)


def automation_by_key(key: str) -> Select[Automation]:
    """One automation by its key."""
    return select(Automation).where(Automation.key == key)


def latest_enrollment(automation_id: int, subject_id: str) -> Select[Enrollment]:
    """The most recent entry of a subject into an automation."""
    return (select(Enrollment).where(Enrollment.automation_id == automation_id, Enrollment.subject_id == subject_id)
            .order_by(Enrollment.enrolled_at.desc(), Enrollment.id.desc()).limit(1))


def history_of_automation(automation_id: int, limit: int = 200) -> Select[AutomationRun]:
    """Newest history rows of one automation."""
    return (select(AutomationRun).where(AutomationRun.automation_id == automation_id)
            .order_by(AutomationRun.id.desc()).limit(limit))


def history_of_person(person_id: str, limit: int = 200) -> Select[AutomationRun, Automation]:
    """Newest history rows about one person (or record), across automations."""
    return (select(AutomationRun, Automation).join(Automation, Automation.id == AutomationRun.automation_id)
            .where((AutomationRun.person_id == person_id) | (AutomationRun.record_id == person_id))
            .order_by(AutomationRun.id.desc()).limit(limit))


def pending_steps_of(enrollment_id: int) -> Select[PlannedStep]:
    """Steps of an enrollment not yet done."""
    return select(PlannedStep).where(PlannedStep.enrollment_id == enrollment_id,
                                     PlannedStep.status.in_(("queued", "running")))


def pending_and_last_fired(session: Session) -> tuple[dict[int, int], dict[int, Any]]:
    """Per automation id: how many steps are queued or running, and when it last fired (the list page)."""
    pending = session.execute(select(PlannedStep.automation_id, func.count())
                              .where(PlannedStep.status.in_(("queued", "running")))
                              .group_by(PlannedStep.automation_id))
    last = session.execute(select(AutomationRun.automation_id, func.max(AutomationRun.occurred_at))
                           .where(AutomationRun.outcome == "fired").group_by(AutomationRun.automation_id))
    return ({automation_id: count for automation_id, count in pending},
            {automation_id: at for automation_id, at in last})
