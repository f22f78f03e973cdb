"""Named statements over the mirror and the sync tables (readers: CLI, status page, health)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, func, select

from salesforce.models import ApiCallHour
from sync.models import MirrorRecord, SyncObject, SyncRun


def record_counts() -> Select[str, int, int]:
    """(object_name, live records, deleted records) per mirrored object."""
    deleted = func.sum(case((MirrorRecord.is_deleted.is_(True), 1), else_=0))
    return select(MirrorRecord.object_name, func.count(), deleted).group_by(MirrorRecord.object_name)


def object_states() -> Select[Any]:
    """Every SyncObject row by name."""
    return select(SyncObject).order_by(SyncObject.object_name)


def recent_runs(limit: int) -> Select[Any]:
    """The latest finished or running cycles, newest first."""
    return select(SyncRun).order_by(SyncRun.started_at.desc(), SyncRun.id.desc()).limit(limit)


def calls_since(since: datetime) -> Select[Any]:
    """API calls per hour from `since` on, oldest first."""
    return select(ApiCallHour).where(ApiCallHour.hour >= since).order_by(ApiCallHour.hour)


def latest_usage() -> Select[int | None, int | None]:
    """The org's last reported (api_used, api_max)."""
    return (select(ApiCallHour.api_used, ApiCallHour.api_max).where(ApiCallHour.api_used.is_not(None))
            .order_by(ApiCallHour.hour.desc()).limit(1))


def mirror_dump(object_name: str, include_deleted: bool) -> Select[Any]:
    """Mirror rows of one object in Id order (for `flask mirror dump`)."""
    stmt = select(MirrorRecord.sf_id, MirrorRecord.fields).where(MirrorRecord.object_name == object_name)
    if not include_deleted:
        stmt = stmt.where(MirrorRecord.is_deleted.is_(False))
    return stmt.order_by(MirrorRecord.sf_id)
