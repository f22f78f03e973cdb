"""Which Salesforce User a tsunagi user is: a field rep's customers and phone number come from it.

An admin chooses the User on the user page (users.salesforce_user_id, from the mirrored Users);
when none is chosen, the mirrored User with the same email address stands in. Reads the mirror
with indexed SQL only (sync.read and the email key).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from people.models import User
from sync import read

# Enough for any co-op's org; the list is a <select> on the user page.
MAX_CHOICES = 2000


def user_choices(session: Session) -> list[tuple[str, str]]:
    """(User Id, "name <email>") of the mirrored, active Salesforce Users, by name."""
    rows = session.execute(read.live_records("User").limit(MAX_CHOICES)).all()
    out = []
    for sf_id, fields in rows:
        fields = fields or {}
        if fields.get("IsActive") is False:
            continue
        name = fields.get("Name") or " ".join(str(fields.get(n) or "") for n in ("LastName", "FirstName")).strip()
        out.append((sf_id, f"{name} <{fields.get('Email') or ''}>"))
    return sorted(out, key=lambda c: c[1])


def salesforce_user_id(session: Session, user: Any) -> str | None:
    """The Salesforce User Id of `user`: the one chosen by an admin, else the User with their email."""
    chosen = getattr(user, "salesforce_user_id", None)
    if chosen:
        return str(chosen)
    email = (getattr(user, "email", "") or "").strip().lower()
    if not email:
        return None
    found = read.ids_with_email(session, email, ("User",), limit=1)
    return found[0][0] if found else None


def phone_of(session: Session, user: User | None) -> str | None:
    """The phone of `user`'s Salesforce User (Phone, else MobilePhone), or None."""
    if user is None:
        return None
    sf_id = salesforce_user_id(session, user)
    record = read.records_by_id(session, [sf_id]).get(sf_id or "") if sf_id else None
    if record is None or record.is_deleted:
        return None
    fields = record.fields or {}
    phone = str(fields.get("Phone") or fields.get("MobilePhone") or "").strip()
    return phone or None
