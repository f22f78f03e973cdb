"""The pieces of an entry form's pages, shared by operator, sales and public forms.

Every rendered entry form carries a fresh token (its idempotency key). The token travels with
the confirm page, so the final POST — however often it is sent — maps to one submission. The
edit → confirm → submit steps that use these pieces are forms.flow.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from flask import abort, render_template, request
from sqlalchemy.orm import Session

from forms import describe, service
from forms.inputs import Cleaned, clean_form
from forms.models import FormDefinition
from forms.schema import FormSpec
from sync.models import MirrorRecord

_TOKEN = re.compile(r"^[0-9a-f]{32}$")
# The privacy-policy consent box of a page that has one (`Page.privacy`; forms/_fields.html names it too).
PRIVACY_INPUT = "_privacy"


def new_token() -> str:
    """A fresh idempotency token for one rendered form."""
    return secrets.token_hex(16)


def posted_token() -> str:
    """The token of the posted form (400 when missing or malformed: it was not our form)."""
    token = request.form.get("_token", "")
    if not _TOKEN.match(token):
        abort(400)
    return token


def load_form(session: Session, key: str, audiences: tuple[str, ...]) -> tuple[FormDefinition, FormSpec]:
    """The active definition `key` for one of `audiences`, with describe applied (404 otherwise)."""
    row = service.get_definition(session, key)
    if row is None or not row.active or row.audience not in audiences:
        abort(404)
    if describe.request_missing(session, describe.objects_of(row.spec)):
        # First use before the org's describe is cached: a background job fetches it (no
        # Salesforce call here). Committed now, before this request writes anything of its own.
        session.commit()
    return row, service.effective_spec(session, row)


def prefill_values(spec: FormSpec, record: MirrorRecord | None) -> dict[str, str]:
    """Typed values for a blank form: the definition's defaults, then the person's known fields.

    A public form shows only the fields it declares `public_prefill: true`: whoever opens a signed
    link sees the page, and a same-named field of the person (e.g. an internal Description note on
    the Contact behind a revisit booking) must never appear there. Signed-in staff see every field.
    """
    values = {k: str(v) for k, v in spec.defaults.items()}
    if record is not None and (not spec.is_person_form or record.object_name == spec.object):
        public = spec.audience == "public"
        for f in spec.fields:
            if public and not f.public_prefill:
                continue
            value = (record.fields or {}).get(f.name)
            if value not in (None, ""):
                values[f.name] = "1" if value is True else str(value)
    return values


def typed_values(spec: FormSpec) -> dict[str, str]:
    """What was posted for the form's fields (as typed, before normalizing)."""
    return {f.name: request.form.get(f.name, "") for f in spec.fields}


@dataclass
class Page:
    """Everything an entry or confirm template needs."""

    row: FormDefinition
    spec: FormSpec
    action: str
    token: str
    typed: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    person: MirrorRecord | None = None
    hidden: dict[str, str] = field(default_factory=dict)
    public: bool = False
    message: str = ""
    new_url: str = ""
    lookup_url: str = ""
    # Public forms that collect personal data: {"url", "label", "checked"} of the privacy-policy box.
    privacy: dict[str, Any] | None = None

    def context(self, **extra: Any) -> dict[str, Any]:
        """Template variables."""
        return {"page": self, "form": self.spec, **extra}


def render_entry(page: Page, status: int = 200) -> tuple[str, int]:
    """The entry form with any inline errors and what was typed."""
    return render_template("forms/entry.html", **page.context()), status


def render_confirm(page: Page, cleaned: Cleaned, duplicates: list[dict[str, Any]] | None = None) -> tuple[str, int]:
    """The confirmation screen: normalized values to check, the typed ones carried hidden.

    `duplicates`: customers already known with the same phone or mail, warned about before a
    staff form creates a new record.
    """
    shown = [(f, cleaned.values.get(f.name)) for f in page.spec.fields if f.name in cleaned.values]
    return render_template("forms/confirm.html", shown=shown, duplicates=duplicates or [], **page.context()), 200


def clean_posted(spec: FormSpec) -> Cleaned:
    """Check the posted fields of `spec` (dates against today's local date)."""
    from datetime import date

    return clean_form(spec, request.form.to_dict(), today=date.fromisoformat(service.local_today()))


def stage() -> str:
    """Which step the POST asks for: confirm (default), edit (back to the form) or submit."""
    value = request.form.get("_stage", "confirm")
    return value if value in ("confirm", "edit", "submit") else "confirm"


def with_task_date(spec: FormSpec, values: dict[str, Any]) -> dict[str, Any]:
    """Activities written by a form are dated today (local time) unless the form sets a date."""
    if spec.object in ("Task", "Event") and "ActivityDate" not in values:
        return {**values, "ActivityDate": service.local_today()}
    return values
