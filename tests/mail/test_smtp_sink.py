"""The smtp_sink fixture other packages rely on."""

import smtplib

import pytest


@pytest.mark.db_independent
def test_sink_collects_messages_and_can_refuse_then_go_down(smtp_sink):
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=5) as client:
        client.sendmail("a@example.jp", ["b@example.jp"], b"Subject: hi\r\nMessage-ID: <1@x>\r\n\r\nbody\r\n")
        smtp_sink.fail_next(451)
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail("a@example.jp", ["b@example.jp"], b"Subject: again\r\n\r\nbody\r\n")
        assert refused.value.smtp_code == 451
    [mail] = smtp_sink.wait_for(1)
    assert mail.message["Subject"] == "hi"
    assert smtp_sink.message_ids() == ["<1@x>"]
    smtp_sink.down()
    with pytest.raises(OSError):
        smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=2)
    smtp_sink.up()
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=5) as client:
        client.sendmail("a@example.jp", ["c@example.jp"], b"Subject: back\r\n\r\nbody\r\n")
    assert len(smtp_sink.wait_for(2)) == 2
