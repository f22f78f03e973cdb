"""Consent at send time (特定電子メール法 第3条), as an admin runs it: an automation's marketing mail
reaches only people with a recorded opt-in (or the exemption the automation declares), checked by
the outbox worker when it sends; the admin sees why the others were not sent."""

from __future__ import annotations

from datetime import timedelta

import pytest

import db as dbmod
from mail.compliance import record_consent
from tests.automations.helpers import load, outbox, run, template, tokyo, upsert

NEWSLETTER = """
automations:
  - key: weekly-news
    name: 今週のおすすめ
    trigger: {type: manual}
    {consent}
    steps:
      - name: お知らせ
        actions:
          - {{type: send_mail, template: news}}
          - {{type: send_mail, template: receipt, marketing: false}}
"""


@pytest.fixture
def app(mail_app):
    """sign_in and the automation helpers work on the app that sends to the SMTP sink."""
    return mail_app


def _start(app, person_ids, now):
    from automations.conditions import MirrorView
    from automations.engine import Runtime, enroll
    from automations.queries import automation_by_key

    with app.app_context(), dbmod.get_db(app).transaction() as session:
        automation = session.scalar(automation_by_key("weekly-news"))
        rt = Runtime(now=now)
        view = MirrorView(session)
        for person_id in person_ids:
            assert enroll(session, rt, automation, view.get(person_id), occurrence="test", why="test") is not None


def _consent(app, address, granted):
    with app.app_context(), dbmod.get_db(app).transaction() as session:
        record_consent(session, address=address, granted=granted, source="form:materials_request")


def _setup(app, consent_line=""):
    template(app, "news", subject="今週のおすすめ {{ person.LastName }}")
    template(app, "receipt", subject="ご注文の確認 {{ person.LastName }}")
    load(app, NEWSLETTER.replace("{consent}", consent_line).replace("{{", "{").replace("}}", "}"))
    opted_in = upsert(app, "Contact", LastName="佐藤", Email="sato@example.jp", HasOptedOutOfEmail=False)
    never_asked = upsert(app, "Contact", LastName="鈴木", Email="suzuki@example.jp", HasOptedOutOfEmail=False)
    withdrew = upsert(app, "Contact", LastName="田中", Email="tanaka@example.jp", HasOptedOutOfEmail=False)
    return opted_in, never_asked, withdrew


def _received(smtp_sink):
    return sorted((m.message["To"], str(m.message["Subject"])) for m in smtp_sink.messages)


def test_marketing_mail_goes_only_to_recorded_opt_ins_and_the_admin_sees_why_not(
        app, smtp_sink, drain, sign_in):
    opted_in, never_asked, withdrew = _setup(app)
    _consent(app, "sato@example.jp", True)
    _consent(app, "tanaka@example.jp", True)
    now = tokyo(2026, 12, 1, 10, 0)
    _start(app, [opted_in, never_asked, withdrew], now)
    run(app, now + timedelta(minutes=1))  # the step runs: mails are planned in the outbox
    # Consent withdrawn after the mail was planned, before it was sent: checked at send time.
    _consent(app, "tanaka@example.jp", False)
    drain()

    assert _received(smtp_sink) == [
        ("sato@example.jp", "ご注文の確認 佐藤"), ("sato@example.jp", "今週のおすすめ 佐藤"),
        # transactional mail (marketing: false) needs no opt-in
        ("suzuki@example.jp", "ご注文の確認 鈴木"), ("tanaka@example.jp", "ご注文の確認 田中"),
    ]
    skipped = {(m.to_address, m.skip_reason) for m in outbox(app) if m.status == "skipped"}
    assert skipped == {("suzuki@example.jp", "no_consent"), ("tanaka@example.jp", "consent_withdrawn")}

    page = sign_in("admin").get("/admin/mail/").get_data(as_text=True)
    assert "suzuki@example.jp" in page and "オプトイン同意なし" in page
    assert "tanaka@example.jp" in page and "同意撤回済み" in page


def test_an_automation_declaring_an_existing_business_relationship_mails_without_an_opt_in_record(
        app, smtp_sink, drain):
    opted_in, never_asked, withdrew = _setup(app, "consent: existing_relationship")
    _consent(app, "tanaka@example.jp", False)  # a withdrawal still wins over the exemption
    now = tokyo(2026, 12, 1, 10, 0)
    _start(app, [opted_in, never_asked, withdrew], now)
    run(app, now + timedelta(minutes=1))
    drain()
    marketing = sorted(to for to, subject in _received(smtp_sink) if subject.startswith("今週"))
    assert marketing == ["sato@example.jp", "suzuki@example.jp"]


def test_an_unknown_consent_basis_is_refused_on_save(app):
    from config.validation import DocumentError

    with pytest.raises(DocumentError) as caught:
        load(app, NEWSLETTER.replace("{consent}", "consent: they_wont_mind").replace("{{", "{").replace("}}", "}"))
    assert "consent" in str(caught.value)
