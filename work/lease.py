"""Named leases in the database: at most one holder at a time, across processes and machines."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from db import insert_for, rows_matched, utcnow
from work.models import Lease


def acquire(session: Session, name: str, holder: str, seconds: int) -> bool:
    """Take or renew lease `name` for `holder`; False if someone else holds an unexpired one.

    Commit right after: the lease is only visible to others once committed.
    """
    now = utcnow()
    expires = now + timedelta(seconds=seconds)
    created = session.execute(
        insert_for(session, Lease).values(name=name, holder=holder, expires_at=expires)
        .on_conflict_do_nothing().returning(Lease.name)
    ).scalar()
    if created is not None:
        return True
    taken = rows_matched(session,
        update(Lease)
        .where(Lease.name == name, or_(Lease.holder == holder, Lease.expires_at < now))
        .values(holder=holder, expires_at=expires)
        .execution_options(synchronize_session=False)
    )
    return taken == 1


def release(session: Session, name: str, holder: str) -> None:
    """Give lease `name` back if `holder` still holds it."""
    session.execute(
        update(Lease)
        .where(Lease.name == name, Lease.holder == holder)
        .values(expires_at=utcnow())
        .execution_options(synchronize_session=False)
    )
