"""Sending through a real SMTP server on loopback: MIME, Japanese, compliance, retries, bounces."""

from __future__ import annotations

import base64

import db
from mail.models import Suppression


def _decoded(part) -> str:
    return part.get_content()


def test_marketing_mail_is_multipart_alternative_with_compliance_footer_and_one_click_headers(
        smtp_sink, add_template, enqueue, drain, outbox_rows):
    add_template()
    assert enqueue("m1")
    drain()
    [mail] = smtp_sink.wait_for(1)
    message = mail.message
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert mail.rcpt_tos == ["taro@example.jp"] and mail.mail_from == "news@example.jp"
    assert message["To"] == "taro@example.jp"
    [row] = outbox_rows()
    assert row.status == "sent" and row.smtp_code == 250 and row.sent_at is not None
    assert message["Message-ID"] == row.message_id
    unsubscribe = message["List-Unsubscribe"]
    assert unsubscribe.startswith("<https://mail.example.jp/u/") and unsubscribe.endswith(">")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text, html = (_decoded(p) for p in message.iter_parts())
    for part in (text, html):
        assert "株式会社つなぎ商店" in part and "東京都千代田区丸の内1-1-1" in part and "03-1234-5678" in part
    assert unsubscribe[1:-1] in text and unsubscribe[1:-1] in html


LONG_SUBJECT = "【ご案内】{{ person.LastName }} 様、春の新商品のお知らせです。お見逃しなく！送料無料キャンペーン実施中"


def test_japanese_subject_body_and_sender_name_round_trip(smtp_sink, add_template, enqueue, drain):
    add_template(subject=LONG_SUBJECT)
    enqueue("jp", context={"person": {"LastName": "髙橋"}})
    drain()
    [mail] = smtp_sink.wait_for(1)
    raw_headers = mail.data.split(b"\r\n\r\n", 1)[0]
    assert raw_headers.isascii()  # RFC 2047 on the wire, no 8-bit headers
    lines = raw_headers.split(b"\r\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(b"Subject:"))
    subject_lines = [lines[start], *[line for line in lines[start + 1:] if line.startswith(b" ")][:20]]
    assert len(subject_lines) > 1 and all(len(line) <= 78 for line in subject_lines)
    assert mail.message["Subject"] == LONG_SUBJECT.replace("{{ person.LastName }}", "髙橋")
    assert mail.message["From"].addresses[0].display_name == "つなぎ商店"
    assert "髙橋 様" in mail.message.get_body(("plain",)).get_content()


def test_line_breaks_in_merge_fields_cannot_inject_headers(smtp_sink, add_template, enqueue, drain):
    add_template(subject="{{ person.LastName }} 様")
    enqueue("inj", context={"person": {"LastName": "山田\r\nBcc: victim@example.com\r\nX-Evil: 1"}})
    drain()
    [mail] = smtp_sink.wait_for(1)
    assert mail.message["Bcc"] is None and mail.message["X-Evil"] is None
    assert mail.rcpt_tos == ["taro@example.jp"]
    assert mail.message["Subject"] == "山田 Bcc: victim@example.com X-Evil: 1 様"


def test_temporary_failure_is_retried_and_delivered_once(smtp_sink, add_template, enqueue, drain, outbox_rows):
    add_template()
    enqueue("retry")
    smtp_sink.fail_next(451, count=2)
    drain()
    [row] = outbox_rows()
    assert row.status == "sent" and row.attempts == 3
    assert smtp_sink.message_ids() == [row.message_id]


def test_server_down_is_retried_until_it_is_back(smtp_sink, add_template, enqueue, drain, outbox_rows, mail_app):
    from mail.sender import sender_for

    add_template()
    enqueue("down")
    smtp_sink.down()
    with mail_app.app_context():
        assert sender_for(mail_app).process("w") == 1
    [row] = outbox_rows()
    assert row.status == "queued" and "cannot connect" in row.last_error
    smtp_sink.up()
    drain()
    assert outbox_rows()[0].status == "sent"
    assert len(smtp_sink.wait_for(1)) == 1


def test_refused_recipient_is_bounced_and_suppressed_for_the_next_mail(
        smtp_sink, add_template, enqueue, drain, outbox_rows, mail_app):
    add_template()
    enqueue("b1", to="nobody@example.jp")
    smtp_sink.fail_next(550, stage="rcpt")
    drain()
    enqueue("b2", to="nobody@example.jp", marketing=False)
    drain()
    first, second = outbox_rows()
    assert first.status == "bounced" and first.smtp_code == 550
    assert second.status == "skipped" and second.skip_reason == "hard_bounce"
    assert smtp_sink.messages == []
    with db.get_db(mail_app).sessionmaker() as session:
        assert session.get(Suppression, "nobody@example.jp").reason == "hard_bounce"


def test_content_refused_after_data_is_bounced_without_suppressing(smtp_sink, add_template, enqueue, drain,
                                                                   outbox_rows):
    add_template()
    enqueue("c1")
    smtp_sink.fail_next(554, text="5.7.1 message refused")
    drain()
    enqueue("c2")
    drain()
    first, second = outbox_rows()
    assert first.status == "bounced" and "5.7.1" in first.last_error
    assert second.status == "sent"


def test_missing_merge_field_fails_that_mail_only(smtp_sink, add_template, enqueue, drain, outbox_rows):
    add_template(subject="{{ person.LastName }} 様")
    enqueue("bad", context={"person": {}})
    enqueue("good")
    drain()
    bad, good = outbox_rows()
    assert bad.status == "failed" and "LastName" in bad.last_error
    assert good.status == "sent"
    assert len(smtp_sink.wait_for(1)) == 1


def test_domain_rate_limit_defers_without_counting_an_attempt(make_app, smtp_sink, add_template, enqueue,
                                                              outbox_rows, mail_app):
    from mail.sender import sender_for

    mail_app.config["TSUNAGI"] = mail_app.config["TSUNAGI"].__class__(
        **{**mail_app.config["TSUNAGI"].__dict__, "mail_domain_rates": {"example.jp": 1}})
    add_template()
    for n in range(3):
        enqueue(f"r{n}", to=f"user{n}@example.jp")
    with mail_app.app_context():
        sender_for(mail_app).process("w")
    rows = outbox_rows()
    assert [r.status for r in rows].count("sent") == 1
    deferred = [r for r in rows if r.status == "queued"]
    assert len(deferred) == 2 and all(r.attempts == 0 for r in deferred)


def test_transactional_mail_has_no_unsubscribe_headers(smtp_sink, add_template, enqueue, drain):
    add_template()
    enqueue("t1", marketing=False)
    drain()
    [mail] = smtp_sink.wait_for(1)
    assert mail.message["List-Unsubscribe"] is None
    assert "配信停止" not in mail.message.get_body(("plain",)).get_content()


def test_message_bodies_are_base64_utf8(smtp_sink, add_template, enqueue, drain):
    add_template()
    enqueue("b64")
    drain()
    [mail] = smtp_sink.wait_for(1)
    for part in mail.message.iter_parts():
        assert part["Content-Transfer-Encoding"] == "base64"
        assert part.get_content_charset() == "utf-8"
        base64.b64decode(part.get_payload())
