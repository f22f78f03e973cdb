"""Public mail endpoints: unsubscribe (page and RFC 8058 one-click), open pixel, click redirect, DSNs.

Every link carries a signed token (mail.tokens); nothing here trusts a URL parameter otherwise.
"""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Response, redirect, render_template, request

import db
from activity.record import record_activity
from config import settings_of
from mail import bp, tokens
from mail.bounces import NotADsn, apply_dsn, apply_report
from mail.compliance import unsubscribe_mail
from mail.models import OutboxMail
from mail.return_path import ReturnPath
from web.i18n import gettext as _

# The smallest transparent GIF.
PIXEL = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
         b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
MAX_DSN_BYTES = 2 * 1024 * 1024


def _secret() -> str:
    return settings_of().secret_key


def _invalid_link() -> tuple[str, int]:
    return render_template("mail/link_invalid.html"), 404


@bp.route("/u/<token>", methods=["GET"])
def unsubscribe_page(token: str):  # type: ignore[no-untyped-def]
    """Ask the recipient to confirm (a GET never unsubscribes: link scanners follow links)."""
    try:
        mail_id = tokens.load(_secret(), "unsubscribe", token)
    except tokens.BadToken:
        return _invalid_link()
    mail = db.session().get(OutboxMail, mail_id)
    if mail is None:
        return _invalid_link()
    return render_template("mail/unsubscribe.html", address=mail.to_address, done=False)


@bp.route("/u/<token>", methods=["POST"])
def unsubscribe(token: str):  # type: ignore[no-untyped-def]
    """Unsubscribe: the confirm button, or a mail provider's one-click POST (RFC 8058)."""
    try:
        mail_id = tokens.load(_secret(), "unsubscribe", token)
    except tokens.BadToken:
        return _invalid_link()
    one_click = request.form.get("List-Unsubscribe") == "One-Click"
    session = db.session()
    mail = unsubscribe_mail(session, int(mail_id), source="one_click" if one_click else "unsubscribe_page")
    if mail is None:
        return _invalid_link()
    session.commit()
    return render_template("mail/unsubscribe.html", address=mail.to_address, done=True)


def _track(kind: str, mail_id: int, extra: dict[str, str]) -> OutboxMail | None:
    session = db.session()
    mail = session.get(OutboxMail, mail_id)
    if mail is None:
        return None
    record_activity(session, kind, person_id=mail.person_id,
                    details={"mail_id": mail.id, "template_key": mail.template_key, "origin": mail.origin,
                             "origin_ref": mail.origin_ref, **extra})
    session.commit()
    return mail


def _with_person_token(url: str, person_id: str | None) -> str:
    """`url` plus `tsn=<signed person token>` when it points at one of TRACKING_LINK_DOMAINS.

    The tracking snippet on that site hands the token to /t/p.gif, which links the browser's
    visitor id to the person. Only the customer's own sites get it: a token names a person.
    """
    domains = settings_of().tracking_link_domains
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not person_id or not any(host == d or host.endswith("." + d) for d in domains):
        return url
    from scoring.tracking import person_token  # scoring sits above mail (docs/architecture.md)

    query = [*parse_qsl(parts.query, keep_blank_values=True), ("tsn", person_token(_secret(), person_id))]
    return urlunsplit(parts._replace(query=urlencode(query)))


@bp.route("/m/o/<token>.gif")
def open_pixel(token: str):  # type: ignore[no-untyped-def]
    """Record an open; answer a 1×1 transparent GIF."""
    try:
        mail_id = tokens.load(_secret(), "open", token)
    except tokens.BadToken:
        return _invalid_link()
    if not isinstance(mail_id, int) or not _track("mail_open", mail_id, {}):
        return _invalid_link()
    return Response(PIXEL, mimetype="image/gif", headers={"Cache-Control": "no-store, private"})


@bp.route("/m/c/<token>")
def click(token: str):  # type: ignore[no-untyped-def]
    """Record a click and redirect to the URL inside the signed token (never one from the request)."""
    try:
        value = tokens.load(_secret(), "click", token)
    except tokens.BadToken:
        return _invalid_link()
    if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], int) and isinstance(value[1], str)
            and value[1].startswith(("http://", "https://"))):
        return _invalid_link()
    mail_id, url = value
    mail = _track("mail_click", mail_id, {"url": url[:2000]})
    if mail is None:
        return _invalid_link()
    return redirect(_with_person_token(url, mail.person_id), code=302)


@bp.route("/mail/bounces", methods=["POST"])
def bounces():  # type: ignore[no-untyped-def]
    """Take one DSN (the raw message as the body); `Authorization: Bearer MAIL_BOUNCE_TOKEN`."""
    settings = settings_of()
    expected = settings.mail_bounce_token
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        return {"error": _("認証に失敗しました。")}, 401
    raw = request.get_data(cache=False)
    if not raw or len(raw) > MAX_DSN_BYTES:
        return {"error": _("DSN 本文がありません。")}, 400
    session = db.session()
    try:
        counts = apply_dsn(session, raw, settings.mail_soft_bounce_limit, source="dsn_http",
                           return_path=ReturnPath.from_settings(settings))
    except NotADsn:
        return {"error": _("配信状況通知 (DSN) ではありません。")}, 422
    session.commit()
    return counts, 200


@bp.route("/mail/bounces/sendgrid", methods=["POST"])
def sendgrid_bounces():  # type: ignore[no-untyped-def]
    """SendGrid's Event Webhook (signed, or `?token=MAIL_BOUNCE_TOKEN`): bounces recorded as from a DSN."""
    from mail import sendgrid_events

    settings = settings_of()
    raw = request.get_data(cache=False)
    try:
        sendgrid_events.authenticate(settings, raw, request.headers, request.args.get("token", ""))
    except sendgrid_events.Unauthorized:
        return {"error": _("認証に失敗しました。")}, 401
    if len(raw) > MAX_DSN_BYTES:
        return {"error": _("本文が大きすぎます。")}, 413
    try:
        reports = sendgrid_events.parse(raw)
    except sendgrid_events.BadPayload:
        return {"error": _("SendGrid のイベント配列ではありません。")}, 422
    return _apply_provider_reports(reports, settings.mail_soft_bounce_limit, "sendgrid"), 200


@bp.route("/mail/bounces/ses", methods=["POST"])
def ses_bounces():  # type: ignore[no-untyped-def]
    """Amazon SES notifications via SNS (`?token=MAIL_BOUNCE_TOKEN`): bounces recorded as from a DSN."""
    from mail import ses_events

    settings = settings_of()
    expected, given = settings.mail_bounce_token, request.args.get("token", "")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        return {"error": _("認証に失敗しました。")}, 401
    raw = request.get_data(cache=False)
    if len(raw) > MAX_DSN_BYTES:
        return {"error": _("本文が大きすぎます。")}, 413
    try:
        reports = ses_events.parse(raw)
    except ses_events.BadPayload:
        return {"error": _("Amazon SNS の通知ではありません。")}, 422
    return _apply_provider_reports(reports, settings.mail_soft_bounce_limit, "ses"), 200


def _apply_provider_reports(reports: list[Any], soft_limit: int, source: str) -> dict[str, int]:
    """Record a provider's bounce reports as DSN bounces are, in one commit; the counts by outcome."""
    session = db.session()
    counts = {"hard": 0, "soft": 0, "ignored": 0}
    for report in reports:
        counts[apply_report(session, report, soft_limit, source=source)] += 1
    session.commit()
    return counts


def exempt_from_csrf() -> None:
    """The one-click POST comes from a mail provider and DSNs from a server: no CSRF token exists."""
    from people.auth import csrf

    csrf.exempt(unsubscribe)
    csrf.exempt(bounces)
    csrf.exempt(sendgrid_bounces)
    csrf.exempt(ses_bounces)
