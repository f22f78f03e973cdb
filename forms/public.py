"""Customer-facing forms (資料請求, 再訪問予約…): no sign-in, CSRF, a honeypot, rate limiting.

A known customer is prefilled only through a signed, expiring link (`?t=`, see forms.links);
raw record ids in a URL are ignored. The rate limit counts accepted submissions per client IP
in the database (HMAC of the IP, see web.clients.client_key): it holds across every web process
and machine without another service, and costs one indexed count per submission.

The tracking snippet on the customer's site opens these forms with `?tvid=<visitor id>.<time>`
(this host cannot read that site's cookie; a stale time is ignored); the id rides along as a
hidden input and links the visitor to whoever submits (see service.accept_submission).

A POST goes through the edit → confirm → submit steps of forms.flow, with this module's rules
as its audience (`PublicEntry`).
"""

from __future__ import annotations

import hashlib
from functools import cached_property
from typing import Any

from flask import current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

import db
from config import settings_of
from db import utcnow
from forms import bp, flow, lookup, service, views
from forms.inputs import Cleaned
from forms.links import LinkError, read_token
from forms.models import Submission
from scoring import tracking
from web.clients import request_client_key
from web.i18n import gettext as _

HONEYPOT = "website"
# The hidden input carrying the visitor id: the same name the snippet fills on the customer's own forms.
VISITOR_INPUT = "tsunagi_vid"


def _page(key: str) -> views.Page:
    session = db.session()
    row, spec = views.load_form(session, key, ("public",))
    page = views.Page(row=row, spec=spec, action=url_for("forms.public_entry", key=key), token="",
                      typed={}, public=True)
    if spec.needs_privacy_consent:
        page.privacy = {"url": settings_of().privacy_policy_url, "label": privacy_label(),
                        "checked": request.form.get(views.PRIVACY_INPUT) == "1", "error": privacy_required()}
    return page


def privacy_required() -> str:
    """The error when the privacy-policy box was not ticked (the same words in the browser and the server)."""
    return _("プライバシーポリシーへの同意が必要です。内容をご確認のうえ、チェックを入れてください。")


def privacy_label() -> str:
    """The words of the privacy-policy consent box (kept with the submission as what was agreed to)."""
    return _("プライバシーポリシーに同意する")


def _privacy_record(page: views.Page) -> dict[str, str] | None:
    """What the person agreed to and when, kept with the submission."""
    if page.privacy is None:
        return None
    return {"text": page.privacy["label"], "url": page.privacy["url"], "at": utcnow().isoformat()}


def _linked_person(page: views.Page, token: str) -> str | None:
    """The person a signed link names, or None (with a notice when the link is bad)."""
    if not token:
        return None
    try:
        person_id = read_token(token, page.spec.key)
    except LinkError as exc:
        page.message = (_("リンクの有効期限が切れています。お手数ですがご入力ください。") if str(exc) == "expired"
                        else _("リンクが正しくありません。お手数ですがご入力ください。"))
        return None
    page.person = lookup.get_person(db.session(), person_id)
    if page.person is None:
        return None
    page.hidden["t"] = token
    return person_id


def _visitor(page: views.Page, value: str | None) -> str | None:
    """The web-tracking visitor id handed over by the customer's site, carried on as a hidden input.

    A malformed id, or any id from a browser asking not to be tracked, is dropped without a word:
    the snippet sent it, not the person filling in the form.
    """
    honour_dnt = settings_of().tracking_honour_dnt
    if not value or not tracking.VISITOR_ID.match(value) or tracking.do_not_track(request.headers.get, honour_dnt):
        return None
    page.hidden[VISITOR_INPUT] = value
    return value


def link_key(token: str) -> str:
    """The idempotency key of the one submission a `once_per_link` form accepts from a link."""
    return hashlib.sha256(f"link:{token}".encode()).hexdigest()[:32]


def _link_refused(page: views.Page, token: str) -> tuple[str, int]:
    """The error page of a `requires_link` form opened without a valid signed link (nothing is stored)."""
    reason = "missing"
    if token:
        try:
            read_token(token, page.spec.key)
            reason = "unknown"  # a valid link whose customer is no longer in the mirror
        except LinkError as exc:
            reason = str(exc)
    messages = {
        "missing": _("このページは、メールでお送りしたご案内のリンクから開いてください。"),
        "expired": _("リンクの有効期限が切れています。お手数ですが担当者までご連絡ください。"),
        "invalid": _("リンクが正しくありません。メールのリンクをもう一度お試しください。"),
        "unknown": _("お客様の情報が見つかりません。お手数ですが担当者までご連絡ください。"),
    }
    return render_template("forms/link_refused.html", form=page.spec, message=messages[reason]), 403


def _booked(page: views.Page, token: str) -> Submission | None:
    """The submission already made from this link, for a `once_per_link` form."""
    if not page.spec.once_per_link or not token:
        return None
    return db.session().scalar(service.queries.submission_by_key(link_key(token)))


def _render_booked(page: views.Page, sub: Submission, again: bool) -> str:
    shown = [(f, sub.data.get(f.name)) for f in page.spec.fields if sub.data.get(f.name) not in (None, "")]
    return render_template("forms/booked.html", form=page.spec, shown=shown, again=again)


@bp.route("/f/<key>", methods=["GET"])
def public_entry(key: str) -> ResponseReturnValue:
    """A public form, prefilled when opened from a signed mail link."""
    page = _page(key)
    link = request.args.get("t", "")
    if _linked_person(page, link) is None and page.spec.requires_link:
        return _link_refused(page, link)
    if (booked := _booked(page, link)) is not None:
        return _render_booked(page, booked, again=True)
    _visitor(page, tracking.visitor_from_link(request.args.get("tvid", "")))
    page.token = views.new_token()
    page.typed = views.prefill_values(page.spec, page.person)
    return views.render_entry(page)


@bp.route("/f/<key>", methods=["POST"])
def public_post(key: str) -> ResponseReturnValue:
    """Confirm, edit or submit a public form; bots filling the honeypot get a thank-you and nothing else."""
    return flow.post(PublicEntry(key))


class PublicEntry:
    """A customer posting a public form (a forms.flow.Audience): no sign-in; the link, consent and rate rules.

    The privacy-policy box is the page's (`_page` sets `Page.privacy`); forms.flow requires the tick.
    """

    def __init__(self, key: str) -> None:
        self.key = key
        self.page = _page(key)
        self.link = ""
        self.person_id: str | None = None
        self.visitor_id: str | None = None

    def admit(self) -> ResponseReturnValue | None:
        """The signed link (refused when required; one booking per link), the visitor id, the honeypot."""
        page, link = self.page, request.form.get("t", "")
        self.link = link
        self.person_id = _linked_person(page, link)
        if self.person_id is None and page.spec.requires_link:
            return _link_refused(page, link)
        if page.spec.once_per_link:
            # One submission per link: however often it is sent, from however many rendered pages.
            page.token = link_key(link)
            if (booked := _booked(page, link)) is not None:
                if views.stage() == "submit":
                    # A replayed send (double tap, retry): the same answer as the first time.
                    return redirect(url_for("forms.public_thanks", key=self.key, t=link), code=303)
                return _render_booked(page, booked, again=True)
        self.visitor_id = _visitor(page, request.form.get(VISITOR_INPUT, ""))
        if request.form.get(HONEYPOT):
            current_app.logger.info("forms: honeypot filled on %s; submission dropped", self.key)
            return redirect(url_for("forms.public_thanks", key=self.key), code=303)
        return None

    def duplicates(self, cleaned: Cleaned) -> list[dict[str, Any]]:
        """Never any: a customer is not shown who else is known."""
        return []

    def hold(self) -> ResponseReturnValue | None:
        """429 when this client made too many submissions lately (a resend of one already made passes)."""
        session, settings = db.session(), settings_of()
        existing = service.queries.submission_by_key(self.page.token)
        if session.scalar(existing) is None and service.over_rate_limit(
                session, self.client, settings.forms_public_rate_limit, settings.forms_public_rate_window_seconds):
            self.page.message = _("短時間にリクエストが多すぎます。しばらくしてからお試しください。")
            return views.render_entry(self.page, 429)
        return None

    def accept(self, session: Session, values: dict[str, Any]) -> service.Accepted:
        """Anonymous: the linked person, the client and visitor; the consent kept with a new submission."""
        page = self.page
        accepted = service.accept_submission(session, page.row, page.spec, values, token=page.token,
                                             person_id=self.person_id, client=self.client,
                                             visitor_id=self.visitor_id)
        if accepted.created and page.privacy is not None:
            accepted.submission.privacy_consent = _privacy_record(page)
        return accepted

    def done(self, accepted: service.Accepted) -> ResponseReturnValue:
        """The thanks page; a booking's link rides along so its holder sees what was booked."""
        if self.page.spec.once_per_link:
            return redirect(url_for("forms.public_thanks", key=self.key, t=self.link), code=303)
        return redirect(url_for("forms.public_thanks", key=self.key), code=303)

    @cached_property
    def client(self) -> str:
        """The rate limit's key of this client (web.clients.request_client_key)."""
        return request_client_key()


@bp.route("/f/<key>/thanks")
def public_thanks(key: str) -> ResponseReturnValue:
    """Thank-you page: shows nothing of what was sent, except a booking back to the holder of its link."""
    page = _page(key)
    link = request.args.get("t", "")
    if link and _linked_person(page, link) is not None and (booked := _booked(page, link)) is not None:
        return _render_booked(page, booked, again=False)
    return render_template("forms/thanks.html", form=page.spec)
