"""Mail that answers one person is sent before bulk mail queued earlier (real SMTP)."""

from __future__ import annotations

from datetime import timedelta

import db
from mail.outbox import enqueue_mails
from mail.sender import sender_for


def test_a_follow_up_queued_behind_a_large_broadcast_is_accepted_by_the_smtp_server_first(
        mail_app, smtp_sink, add_template, enqueue):
    add_template("news")
    add_template("absent", subject="ご不在のためお会いできませんでした")
    earlier = db.utcnow() - timedelta(minutes=5)
    with mail_app.app_context(), db.transaction() as session:
        enqueue_mails(session, [{"send_key": f"broadcast/{i}", "to": f"member{i}@example.jp", "template_key": "news",
                                 "context": {"person": {"LastName": f"会員{i}"}}, "lane": 1, "due_at": earlier,
                                 "salesforce_log": "none", "marketing": False} for i in range(600)])
    enqueue("absent/003000000000001", to="absent@example.jp", template_key="absent", marketing=False)
    with mail_app.app_context():
        sender_for(mail_app).process("worker-1")  # one batch of MAIL_BATCH_SIZE (200)
    received = smtp_sink.wait_for(200)
    assert "absent@example.jp" in [rcpt for mail in received for rcpt in mail.rcpt_tos]
