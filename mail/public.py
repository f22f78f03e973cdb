"""Public mail endpoints: unsubscribe (page and RFC 8058 one-click), the preference centre, a fresh
link by address, open pixel, click redirect, DSNs.

Every link carries a signed token (mail.tokens); nothing here trusts a URL parameter otherwise.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from email.utils import parseaddr
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

import db
from activity.record import record_activity
from config import settings_of
from db import utcnow
from mail import bp, tokens
from mail.bounces import NotADsn, apply_dsn, apply_report
from mail.compliance import latest_consent, unsubscribe_mail
from mail.models import OutboxMail
from mail.outbox import TEST_ORIGIN
from mail.return_path import ReturnPath
from people.auth import csrf
from web.clients import request_client_key
from web.i18n import gettext as _

# The smallest transparent GIF.
PIXEL = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
         b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
MAX_DSN_BYTES = 2 * 1024 * 1024


def _secret() -> str:
    return settings_of().secret_key


def _contact() -> dict[str, str]:
    """Who to ask when a link does not work: the sender's name and contact (MAIL_SENDER_NAME, MAIL_CONTACT)."""
    settings = settings_of()
    name = settings.mail_sender_name or parseaddr(settings.mail_from)[0] or settings.mail_from
    contact = settings.mail_contact or parseaddr(settings.mail_from)[1]
    kind = "mail" if "@" in contact else "phone" if contact and any(ch.isdigit() for ch in contact) else "text"
    tel = "".join(ch for ch in contact if ch.isdigit() or ch == "+")
    return {"name": name, "contact": contact, "kind": kind, "tel": tel}


def _invalid_link(status: int = 404, **extra: Any) -> tuple[str, int]:
    """The invalid-link page: the sender's contact and a way to ask for a fresh link by address."""
    return render_template("mail/link_invalid.html", contact=_contact(), **extra), status


def _signed_value(purpose: str, token: str) -> Any:
    """What a valid link token of `purpose` carries, else None (forged, damaged, expired)."""
    try:
        return tokens.load(_secret(), purpose, token)
    except tokens.BadToken:
        return None


def _mail_of(purpose: str, token: str) -> OutboxMail | None:
    """The outbox mail a valid token of `purpose` names, else None (forged, damaged, expired, gone)."""
    mail_id = _signed_value(purpose, token)
    if not isinstance(mail_id, int):
        return None
    return db.session().get(OutboxMail, mail_id)


def _preferences_url(mail: OutboxMail) -> str:
    return url_for("mail.preferences", token=tokens.make(_secret(), "preferences", mail.id))


@bp.route("/u/<token>", methods=["GET"])
def unsubscribe_page(token: str) -> ResponseReturnValue:
    """Ask the recipient to confirm (a GET never unsubscribes: link scanners follow links).

    Opened again after unsubscribing, it says so (with the date) instead of asking again.
    """
    mail = _mail_of("unsubscribe", token)
    if mail is None:
        return _invalid_link()
    if mail.origin == TEST_ORIGIN:
        return _test_send_notice(mail)
    withdrawal = latest_consent(db.session(), mail.to_address)
    already = withdrawal is not None and not withdrawal.granted
    return render_template("mail/unsubscribe.html", address=mail.to_address, done=already, already=already,
                           since=withdrawal.occurred_at if already and withdrawal else None,
                           preferences_url=_preferences_url(mail))


@bp.route("/u/<token>", methods=["POST"])
def unsubscribe(token: str) -> ResponseReturnValue:
    """Unsubscribe: the confirm button, or a mail provider's one-click POST (RFC 8058)."""
    mail_id = _signed_value("unsubscribe", token)
    if mail_id is None:
        return _invalid_link()
    one_click = request.form.get("List-Unsubscribe") == "One-Click"
    session = db.session()
    test_mail = session.get(OutboxMail, mail_id) if isinstance(mail_id, int) else None
    if test_mail is not None and test_mail.origin == TEST_ORIGIN:
        return _test_send_notice(test_mail)  # staff checking the link: nobody is unsubscribed
    mail = unsubscribe_mail(session, int(mail_id), source="one_click" if one_click else "unsubscribe_page")
    if mail is None:
        return _invalid_link()
    session.commit()
    return render_template("mail/unsubscribe.html", address=mail.to_address, done=True, already=False, since=None,
                           preferences_url=_preferences_url(mail))


def _test_send_notice(mail: OutboxMail) -> str:
    """What an unsubscribe link in a test send shows: what a customer would be asked, and that nothing changed."""
    return render_template("mail/unsubscribe.html", address=mail.to_address, test_send=True, done=False,
                           already=False, since=None, preferences_url=_preferences_url(mail))


@bp.route("/u/request", methods=["POST"])
def request_link() -> ResponseReturnValue:
    """From the invalid-link page: mail a fresh preference-centre link to the address typed (nothing else)."""
    from mail.outbox import InvalidMail, normalize_address
    from mail.preferences import request_link as send_link

    typed = request.form.get("email", "").strip()
    try:
        address = normalize_address(typed)[0].lower() if typed else ""
    except InvalidMail:
        address = ""
    if not address:
        return _invalid_link(400, typed=typed,
                             error=_("メールアドレスを正しく入力してください（例: taro@example.jp）。"))
    session = db.session()
    send_link(session, address, utcnow(), request_client_key())
    session.commit()
    return render_template("mail/link_requested.html", address=address, contact=_contact())


@bp.route("/p/<token>", methods=["GET"])
def preferences(token: str) -> ResponseReturnValue:
    """The preference centre of one mail's recipient: topics, stop everything, or re-subscribe."""
    mail = _mail_of("preferences", token)
    if mail is None:
        return _invalid_link()
    return _render_preferences(mail)


def _render_preferences(mail: OutboxMail, message: str = "", status: int = 200) -> tuple[str, int]:
    from mail.preferences import consent_text, preference_state

    settings = settings_of()
    state = preference_state(db.session(), mail, settings)
    return render_template("mail/preferences.html", state=state, message=message, contact=_contact(),
                           consent_text=consent_text(settings)), status


@bp.route("/p/<token>", methods=["POST"])
def save_preferences(token: str) -> ResponseReturnValue:
    """Save the topics, stop all marketing mail, or re-subscribe (only with a valid signed token)."""
    from mail.compliance import resubscribe
    from mail.preferences import LINK_SOURCE, consent_text, preference_state
    from mail.topics import known_topics, set_topic_optouts

    mail = _mail_of("preferences", token)
    if mail is None:
        return _invalid_link()
    settings = settings_of()
    session = db.session()
    action = request.form.get("action", "")
    if action == "topics":
        receive = set(request.form.getlist("topic"))
        off = [key for key in known_topics(settings) if key not in receive]
        set_topic_optouts(session, mail.to_address, off, person_id=mail.person_id, source=LINK_SOURCE)
        message = _("配信設定を保存しました。")
    elif action == "stop_all":
        unsubscribe_mail(session, mail.id, source=LINK_SOURCE)
        message = _("すべてのお知らせメールの配信を停止しました。")
    elif action == "resubscribe":
        if not preference_state(session, mail, settings).stopped:
            return _render_preferences(mail, _("お知らせメールはすでに配信中です。"))
        resubscribe(session, mail.to_address, person_id=mail.person_id, source=LINK_SOURCE,
                    consent_text=consent_text(settings), details={"mail_id": mail.id})
        message = _("お知らせメールの配信を再開しました。")
    else:
        return _render_preferences(mail, _("操作を選んでください。"), 400)
    session.commit()
    return _render_preferences(mail, message)


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
def open_pixel(token: str) -> ResponseReturnValue:
    """Record an open; answer a 1×1 transparent GIF."""
    mail_id = _signed_value("open", token)
    if not isinstance(mail_id, int) or not _track("mail_open", mail_id, {}):
        return _invalid_link()
    return Response(PIXEL, mimetype="image/gif", headers={"Cache-Control": "no-store, private"})


@bp.route("/m/c/<token>")
def click(token: str) -> ResponseReturnValue:
    """Record a click and redirect to the URL inside the signed token (never one from the request)."""
    value = _signed_value("click", token)
    if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], int) and isinstance(value[1], str)
            and value[1].startswith(("http://", "https://"))):
        return _invalid_link()
    mail_id, url = value
    mail = _track("mail_click", mail_id, {"url": url[:2000]})
    if mail is None:
        return _invalid_link()
    return redirect(_with_person_token(url, mail.person_id), code=302)


@bp.route("/mail/bounces", methods=["POST"])
def bounces() -> ResponseReturnValue:
    """Take one DSN (the raw message as the body); `Authorization: Bearer MAIL_BOUNCE_TOKEN`."""
    settings = settings_of()
    if not _bounce_token_matches(request.headers.get("Authorization", "").removeprefix("Bearer ").strip()):
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
def sendgrid_bounces() -> ResponseReturnValue:
    """SendGrid's Event Webhook (signed, or `?token=MAIL_BOUNCE_TOKEN`): bounces recorded as from a DSN."""
    from mail import sendgrid_events

    settings = settings_of()
    raw = request.get_data(cache=False)
    try:
        sendgrid_events.authenticate(settings, raw, request.headers, request.args.get("token", ""))
    except sendgrid_events.Unauthorized:
        return {"error": _("認証に失敗しました。")}, 401
    return _provider_bounces(raw, sendgrid_events.parse, sendgrid_events.BadPayload,
                             _("SendGrid のイベント配列ではありません。"), "sendgrid")


@bp.route("/mail/bounces/ses", methods=["POST"])
def ses_bounces() -> ResponseReturnValue:
    """Amazon SES notifications via SNS (`?token=MAIL_BOUNCE_TOKEN`): bounces recorded as from a DSN."""
    from mail import ses_events

    if not _bounce_token_matches(request.args.get("token", "")):
        return {"error": _("認証に失敗しました。")}, 401
    return _provider_bounces(request.get_data(cache=False), ses_events.parse, ses_events.BadPayload,
                             _("Amazon SNS の通知ではありません。"), "ses")


def _bounce_token_matches(given: str) -> bool:
    """True when MAIL_BOUNCE_TOKEN is set and `given` is it (compared in constant time)."""
    expected = settings_of().mail_bounce_token
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def _provider_bounces(raw: bytes, parse: Callable[[bytes], list[Any]], bad_payload: type[Exception],
                      not_ours: str, source: str) -> tuple[dict[str, Any], int]:
    """Record a provider's bounce events (`parse(raw)`) as DSN bounces are, in one commit: the
    counts by outcome, or the error (413 too large, 422 not the provider's payload)."""
    if len(raw) > MAX_DSN_BYTES:
        return {"error": _("本文が大きすぎます。")}, 413
    try:
        reports = parse(raw)
    except bad_payload:
        return {"error": not_ours}, 422
    session = db.session()
    soft_limit = settings_of().mail_soft_bounce_limit
    counts = {"hard": 0, "soft": 0, "ignored": 0}
    for report in reports:
        counts[apply_report(session, report, soft_limit, source=source)] += 1
    session.commit()
    return counts, 200


def exempt_from_csrf() -> None:
    """The one-click POST comes from a mail provider and DSNs from a server: no CSRF token exists."""
    csrf.exempt(unsubscribe)
    csrf.exempt(bounces)
    csrf.exempt(sendgrid_bounces)
    csrf.exempt(ses_bounces)
