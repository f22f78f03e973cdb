"""An unsubscribe is always recorded, and admin changes to mail, segments and scoring are audited (issue 13, item 6)."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from sqlalchemy import select

import db
from activity.models import Activity
from mail.models import MailConsent, Suppression
from people.models import AuditEntry
from writeback.models import WritebackItem

CONTACT_ID = "003000000000001AAA"
ADDRESS = "taro@example.jp"


def _unsubscribe_path(smtp_sink) -> str:
    [mail] = smtp_sink.wait_for(1)
    return urlparse(mail.message["List-Unsubscribe"][1:-1]).path


def _recorded(app) -> tuple[list, list, list, str | None]:
    """(consents withdrawn, unsubscribe activities, HasOptedOutOfEmail write-backs, suppression reason)."""
    with db.get_db(app).sessionmaker() as session:
        consents = [(c.address, c.granted) for c in session.scalars(select(MailConsent))]
        activities = [a.person_id for a in session.scalars(select(Activity).where(Activity.kind == "unsubscribe"))]
        writes = [(w.record_id, w.fields) for w in session.scalars(select(WritebackItem))]
        row = session.get(Suppression, ADDRESS)
        return consents, activities, writes, (row.reason if row else None)


def _audit(app) -> list[tuple[str, str]]:
    with db.get_db(app).sessionmaker() as session:
        return [(e.action, e.target) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


@pytest.mark.parametrize("how", ["one_click", "page"])
def test_unsubscribing_an_address_an_admin_already_suppressed_is_recorded_and_outlives_the_manual_entry(
        mail_app, smtp_sink, add_template, enqueue, drain, outbox_rows, sign_in, how):
    add_template()
    enqueue("first", person_id=CONTACT_ID)
    drain()
    path = _unsubscribe_path(smtp_sink)
    admin = sign_in("admin", client=mail_app.test_client())
    assert admin.post("/admin/mail/suppressions", data={"address": ADDRESS}).status_code == 302  # by hand

    recipient = mail_app.test_client()
    form = {"List-Unsubscribe": "One-Click"} if how == "one_click" else {}
    assert recipient.post(path, data=form).status_code == 200
    consents, activities, writes, _reason = _recorded(mail_app)
    assert consents == [(ADDRESS, False)]
    assert activities == [CONTACT_ID]
    assert writes == [(CONTACT_ID, {"HasOptedOutOfEmail": True})]
    assert recipient.post(path, data=form).status_code == 200  # twice: nothing more
    assert _recorded(mail_app)[:3] == (consents, activities, writes)

    # The admin removes the manual entry: the unsubscribe stays, marketing mail does not resume.
    response = admin.post("/admin/mail/suppressions", data={"address": ADDRESS, "action": "remove"},
                          follow_redirects=True)
    assert "本人が配信停止している" in response.get_data(as_text=True)
    assert _recorded(mail_app)[3] == "unsubscribe"
    enqueue("second", person_id=CONTACT_ID)
    drain()
    assert (outbox_rows()[1].status, outbox_rows()[1].skip_reason) == ("skipped", "unsubscribe")
    assert len(smtp_sink.messages) == 1
    assert ("mail.suppress", ADDRESS) in _audit(mail_app) and ("mail.unsuppress", ADDRESS) in _audit(mail_app)


def test_removing_a_manual_entry_of_someone_who_never_unsubscribed_lifts_it(mail_app, sign_in):
    admin = sign_in("admin", client=mail_app.test_client())
    admin.post("/admin/mail/suppressions", data={"address": ADDRESS})
    assert _recorded(mail_app)[3] == "manual"
    admin.post("/admin/mail/suppressions", data={"address": ADDRESS, "action": "remove"})
    assert _recorded(mail_app)[3] is None


def test_template_segment_and_scoring_model_changes_are_in_the_audit_log(mail_app, sign_in):
    admin = sign_in("admin", client=mail_app.test_client())
    template = {"key": "news", "name": "お知らせ", "subject": "お知らせ", "html": "<p>こんにちは</p>", "text": ""}
    assert admin.post("/admin/mail/templates/new", data=template).status_code == 302
    assert admin.post("/admin/mail/templates/news", data={**template, "html": "<p>改訂</p>"}).status_code == 302
    segment = ("key: tokyo\nname: 東京\nobjects: [Lead]\nconditions:\n"
               "  - {field: State, op: eq, value: 東京都}\n")
    assert admin.post("/admin/automations/segments/new", data={"document": segment}).status_code == 302
    assert admin.post("/admin/automations/segments/tokyo",
                      data={"document": segment.replace("東京都", "神奈川県")}).status_code == 302
    model = admin.get("/admin/scoring/export.yaml").get_data(as_text=True)
    assert admin.post("/admin/scoring", data={"model": model.replace("points: 50", "points: 40")}).status_code == 302
    page = admin.get("/admin/audit").get_data(as_text=True)
    for action in ("mail.save_template", "automations.create_segment", "automations.update_segment",
                   "scoring.import_model"):
        assert action in page
    actions = [a for a, _t in _audit(mail_app)]
    assert actions.count("mail.save_template") == 2
    with db.get_db(mail_app).sessionmaker() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "mail.save_template")
                                .order_by(AuditEntry.id.desc())).first()
        assert entry.before["html"] == "<p>こんにちは</p>" and entry.after["html"] == "<p>改訂</p>"
