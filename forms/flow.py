"""Edit → confirm → submit: the one POST flow of every entry form, staff and public.

A posted entry form asks for one step (`_stage`, see views.stage): `edit` goes back to the form
with what was typed, `confirm` checks the fields and shows them normalized, `submit` checks them
again and writes the submission under the token the form was rendered with (views.new_token), so
a double click, a browser retry or a lost response still gives one submission. Every step keeps
what was typed: the confirm page carries it hidden, and the entry page shows it again.

What differs between the people filling a form in is an `Audience`: one small object per request,
built by the module that owns those rules and handed to `post`:

- `forms.routes.StaffEntry`: operators and sales, signed in with a role (the route's
  `role_required`); the customer chosen in the look-up, the duplicate warning, the done page.
- `forms.public.PublicEntry`: customers, no sign-in; the signed link, one booking per link, the
  visitor id, the honeypot, the rate limit, the thanks page.

The flow itself knows none of those rules. A page with a privacy-policy box (`Page.privacy`, set
only by the public side) needs it ticked, and the tick rides through the confirm page to the send.
CSRF is checked before any of this, for every POST of the app (people.auth's CSRFProtect).
"""

from __future__ import annotations

from typing import Any, Protocol

from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

import db
from forms import service, views
from forms.inputs import Cleaned


class Audience(Protocol):
    """Who posts a form, and what that changes around the shared steps (see the module docstring)."""

    page: views.Page

    def admit(self) -> ResponseReturnValue | None:
        """Read what rides along with the fields; a response here ends the flow (refused, replayed, a bot)."""

    def duplicates(self, cleaned: Cleaned) -> list[dict[str, Any]]:
        """Known customers to warn about on the confirm page before a new one is made."""

    def hold(self) -> ResponseReturnValue | None:
        """A response that stops the final send before anything is written (a rate limit), or None."""

    def accept(self, session: Session, values: dict[str, Any]) -> service.Accepted:
        """Write the checked submission (once per token) with what this audience adds to it."""

    def done(self, accepted: service.Accepted) -> ResponseReturnValue:
        """Where the browser goes after the submission was accepted (a 303, so a reload sends nothing)."""


def post(audience: Audience) -> ResponseReturnValue:
    """Go back to edit, confirm, or submit the posted entry form of `audience.page`."""
    page = audience.page
    page.token = views.posted_token()
    page.typed = views.typed_values(page.spec)
    if (early := audience.admit()) is not None:
        return early
    step = views.stage()
    if step == "edit":
        page.errors = {}
        return views.render_entry(page, 200)
    cleaned = views.clean_posted(page.spec)
    page.errors = dict(cleaned.errors)
    if page.privacy is not None and not page.privacy["checked"]:
        page.errors[views.PRIVACY_INPUT] = page.privacy["error"]
    if page.errors:
        return views.render_entry(page, 400)
    if page.privacy is not None:
        page.hidden[views.PRIVACY_INPUT] = "1"  # carried through the confirm page to the final send
    if step == "confirm":
        return views.render_confirm(page, cleaned, audience.duplicates(cleaned))
    if (held := audience.hold()) is not None:
        return held
    session = db.session()
    values = views.with_task_date(page.spec, cleaned.values)
    try:
        accepted = audience.accept(session, values)
    except service.FormError as exc:
        session.rollback()
        page.message = str(exc)
        return views.render_entry(page, 400)
    session.commit()
    return audience.done(accepted)
