"""Segments: saved filters over the people in the mirror, with a live count.

A segment's conditions use the same paths and operators as automation conditions, on the Lead or
Contact itself (`State`, `LeadSource`, `HasOptedOutOfEmail`, `Score__c`…) or through its Id
fields (`Account.Industry`), plus two computed fields:
- `campaign` (eq / in / not_in a Campaign id): membership, from mirrored CampaignMember rows;
- `days_since_open` (lte / gte / is_not_set…): whole days since the person's last mail open.
Segments run as SQL (automations/segment_sql.py): a count is one COUNT query, members are
streamed in id order (yield_per), so nothing ever holds everyone in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from activity.models import Activity
from automations.conditions import MirrorView, Record, check_value
from automations.models import Segment
from automations.segment_sql import COMPUTED, compile_conditions
from db import utcnow
from sync import read
from sync.read import Mirror


def _campaign_members(session: Session, campaign_ids: list[str]) -> dict[str, set[str]]:
    members: dict[str, set[str]] = {}
    if not campaign_ids:
        return members
    rows = session.execute(
        select(Mirror.fields).where(Mirror.object_name == "CampaignMember",
                                          Mirror.is_deleted.is_(False),
                                          read.field_text("CampaignId").in_(campaign_ids))
        .execution_options(yield_per=1000))
    for (fields,) in rows:
        person = fields.get("ContactId") or fields.get("LeadId")
        if person:
            members.setdefault(person, set()).add(fields.get("CampaignId"))
    return members


def _last_opens(session: Session) -> dict[str, datetime]:
    rows = session.execute(select(Activity.person_id, func.max(Activity.occurred_at))
                           .where(Activity.kind == "mail_open", Activity.person_id.is_not(None))
                           .group_by(Activity.person_id))
    out: dict[str, datetime] = {}
    for person_id, last in rows:
        if person_id is None:  # excluded by the WHERE; narrows the type
            continue
        # SQLite returns max() of a UTCDateTime as text; PostgreSQL as a datetime.
        out[person_id] = last if isinstance(last, datetime) else datetime.fromisoformat(str(last) + "+00:00")
    return out


def _statement(session: Session, spec: dict[str, Any], now: datetime, columns: list[Any]) -> tuple[Any, Any]:
    """SELECT `columns` of the segment's people (SQL part) and the conditions left for Python."""
    person = Mirror
    compiled = compile_conditions(person, spec.get("conditions") or [], session.get_bind().dialect.name, now)
    stmt = select(*columns).select_from(person)
    for target, on in compiled.joins:
        stmt = stmt.outerjoin(target, on)
    stmt = stmt.where(read.person_clause(person, spec.get("objects") or None),
                      person.is_deleted.is_(False), *compiled.where)
    return stmt, compiled.residual


def matching(session: Session, spec: dict[str, Any], now: datetime | None = None,
             after: str | None = None) -> Iterator[Record]:
    """Every person the segment spec selects, in id order (after the id `after`), streamed.

    The conditions run as SQL (automations/segment_sql.py); the few SQL cannot express are
    checked here on the rows the SQL let through.
    """
    now = now or utcnow()
    stmt, residual = _statement(session, spec, now,
                                [Mirror.sf_id, Mirror.object_name, Mirror.fields])
    if after is not None:
        stmt = stmt.where(Mirror.sf_id > after)
    stmt = stmt.order_by(Mirror.sf_id).execution_options(yield_per=1000)
    check = _python_check(session, residual, now) if residual else None
    for sf_id, object_name, fields in session.execute(stmt):
        record = Record(sf_id, object_name, fields or {})
        if check is None or check(record):
            yield record


def _python_check(session: Session, conditions: list[dict[str, Any]], now: datetime) -> Any:
    """A predicate applying `conditions` the way automations evaluate them, record by record."""
    campaign_ids = sorted({str(v) for c in conditions if c["field"] == "campaign"
                           for v in (c["value"] if isinstance(c["value"], list) else [c["value"]])})
    members = _campaign_members(session, campaign_ids)
    opens = _last_opens(session) if any(c["field"] == "days_since_open" for c in conditions) else {}
    plain = [c for c in conditions if c["field"] not in COMPUTED]
    view = MirrorView(session)

    def check(record: Record) -> bool:
        if not _computed_ok(conditions, record, members, opens, now):
            return False
        if any("." in c["field"] for c in plain):
            view.prefetch_related([record], [c["field"] for c in plain])
        return all(check_value(c["op"], view.resolve(record, c["field"]), c.get("value")) for c in plain)

    return check


def page(session: Session, spec: dict[str, Any], after: str | None = None, size: int = 50) -> list[Record]:
    """One page of the segment's people in id order: the first `size` after the id `after`."""
    out: list[Record] = []
    for record in matching(session, spec, after=after):
        out.append(record)
        if len(out) >= size:
            break
    return out


def _computed_ok(conditions: list[dict[str, Any]], record: Record, members: dict[str, set[str]],
                 opens: dict[str, datetime], now: datetime) -> bool:
    for c in conditions:
        if c["field"] == "campaign":
            mine = members.get(record.id, set())
            wanted = c["value"] if isinstance(c["value"], list) else [c["value"]]
            hit = any(str(w) in mine for w in wanted)
            if (c["op"] in ("eq", "in") and not hit) or (c["op"] in ("ne", "not_in") and hit):
                return False
        elif c["field"] == "days_since_open":
            last = opens.get(record.id)
            days = None if last is None else (now - last).days
            if not check_value(c["op"], days, c.get("value")):
                return False
    return True


def segment_members(session: Session, key: str) -> Iterator[Record]:
    """The people of a saved segment (none when the key is unknown)."""
    segment = session.scalar(select(Segment).where(Segment.key == key))
    if segment is None:
        return iter(())
    return matching(session, segment.spec)


def count(session: Session, spec: dict[str, Any], now: datetime | None = None) -> int:
    """The live count of a segment spec: one COUNT in SQL unless some condition needs Python."""
    now = now or utcnow()
    stmt, residual = _statement(session, spec, now, [func.count()])
    if not residual:
        return int(session.scalar(stmt) or 0)
    return sum(1 for _ in matching(session, spec, now))
