"""Admin pages (templates, outbox, suppressions) and the development inbox end to end."""

from __future__ import annotations

import socket

from sqlalchemy import select

import db
from mail.devinbox import start_dev_inbox
from mail.models import DevInboxMessage, MailTemplate, Suppression
from mail.outbox import enqueue_mail
from mail.sender import sender_for


def _form(**values):
    base = {"key": "welcome", "name": "ようこそ", "subject": "{{ person.LastName }} 様", "text": "",
            "html": "<p>{{ person.LastName | default('お客') }} 様、ようこそ</p>", "action": "save"}
    base.update(values)
    return base


def test_admin_creates_a_template_and_sees_validation_errors_inline(app, sign_in):
    admin = sign_in("admin")
    bad = admin.post("/admin/mail/templates/new", data=_form(html="<p>{{ person.Nope__x }}</p>"))
    assert bad.status_code == 400
    assert "不明な差し込み項目 person.Nope__x" in bad.get_data(as_text=True)
    good = admin.post("/admin/mail/templates/new", data=_form())
    assert good.status_code == 302
    with db.get_db(app).sessionmaker() as session:
        assert session.scalar(select(MailTemplate.key)) == "welcome"
    assert "welcome" in admin.get("/admin/mail/templates").get_data(as_text=True)


def test_preview_renders_in_a_sandboxed_frame(app, sign_in):
    page = sign_in("admin").post("/admin/mail/templates/new", data=_form(action="preview"))
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<iframe sandbox=""' in body and "[LastName] 様、ようこそ" in body


def test_mail_admin_pages_need_the_admin_role(app, sign_in):
    operator = sign_in("operator")
    for path in ("/admin/mail/", "/admin/mail/templates", "/admin/mail/suppressions", "/admin/mail/inbox"):
        assert operator.get(path).status_code == 403
    assert app.test_client().get("/admin/mail/").status_code == 302


def test_admin_forms_are_refused_without_a_csrf_token(make_app, sign_in):
    signed_in = sign_in("admin")
    protected = make_app(config={"WTF_CSRF_ENABLED": True}).test_client()
    # Same database and SECRET_KEY: the session cookie signed by the first app is valid here.
    protected.set_cookie("session", signed_in.get_cookie("session").value)
    assert protected.get("/admin/mail/suppressions").status_code == 200
    response = protected.post("/admin/mail/suppressions", data={"address": "x@example.jp", "action": "add"})
    assert response.status_code == 400
    with db.get_db(protected.application).sessionmaker() as session:
        assert session.scalars(select(Suppression)).all() == []


def test_admin_adds_and_removes_a_suppression(app, sign_in):
    admin = sign_in("admin")
    assert admin.post("/admin/mail/suppressions", data={"address": "bad address", "action": "add"}).status_code == 400
    admin.post("/admin/mail/suppressions", data={"address": "Stop@Example.jp", "action": "add"})
    assert "stop@example.jp" in admin.get("/admin/mail/suppressions").get_data(as_text=True)
    admin.post("/admin/mail/suppressions", data={"address": "stop@example.jp", "action": "remove"})
    with db.get_db(app).sessionmaker() as session:
        assert session.scalars(select(Suppression)).all() == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_without_smtp_url_mail_lands_in_the_dev_inbox_and_shows_in_admin(make_app, sign_in):
    app = make_app(smtp_url="", dev_inbox_port=_free_port(), public_base_url="https://mail.example.jp")
    inbox = start_dev_inbox(app)
    try:
        from mail.templates import save_template

        with app.app_context(), db.transaction() as session:
            save_template(session, key="hello", name="hello", subject="こんにちは {{ person.LastName }} 様",
                          html="<p>本文 <script>alert(1)</script></p>")
            from mail.compliance import record_consent

            record_consent(session, address="dev@example.jp", granted=True, source="test")
            enqueue_mail(session, send_key="dev1", to="dev@example.jp", template_key="hello",
                         context={"person": {"LastName": "伊藤"}})
        with app.app_context():
            assert sender_for(app).process("dev-worker") == 1
            sender_for(app).close()
    finally:
        inbox.stop()
    with db.get_db(app).sessionmaker() as session:
        [stored] = session.scalars(select(DevInboxMessage)).all()
    assert stored.subject == "こんにちは 伊藤 様" and stored.recipients == ["dev@example.jp"]
    admin = sign_in("admin", app.test_client())
    listing = admin.get("/admin/mail/inbox").get_data(as_text=True)
    assert "こんにちは 伊藤 様" in listing
    detail = admin.get(f"/admin/mail/inbox/{stored.id}").get_data(as_text=True)
    assert '<iframe sandbox=""' in detail and "srcdoc=" in detail
    assert "<script>alert(1)</script>" not in detail  # escaped into srcdoc, never live
    assert "Message-ID" in detail
