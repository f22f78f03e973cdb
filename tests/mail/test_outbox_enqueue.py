"""enqueue_mail: exactly once per send key, validated input."""

import pytest
from sqlalchemy import func, select

from mail.models import OutboxMail
from mail.outbox import InvalidMail, enqueue_mail
from mail.templates import save_template


@pytest.fixture
def template(db_session):
    save_template(db_session, key="hello", name="hello", subject="件名", html="<p>本文</p>")
    db_session.commit()


def test_same_send_key_twice_queues_one_mail(app, db_session, template):
    with app.app_context():
        assert enqueue_mail(db_session, send_key="k1", to="taro@example.jp", template_key="hello", context={}) is True
        assert enqueue_mail(db_session, send_key="k1", to="taro@example.jp", template_key="hello", context={}) is False
        db_session.commit()
    assert db_session.scalar(select(func.count()).select_from(OutboxMail)) == 1
    row = db_session.scalar(select(OutboxMail))
    assert row.status == "queued" and row.to_domain == "example.jp"
    assert row.message_id.startswith("<") and row.message_id.endswith("@localhost>")


@pytest.mark.parametrize("to", ["taro@example.jp\r\nBcc: evil@example.com", "not-an-address", "山田@例え.jp"])
def test_bad_recipient_is_refused(app, db_session, template, to):
    with app.app_context(), pytest.raises(InvalidMail):
        enqueue_mail(db_session, send_key="k2", to=to, template_key="hello", context={})


def test_unknown_template_is_refused(app, db_session, template):
    with app.app_context(), pytest.raises(InvalidMail, match="nope"):
        enqueue_mail(db_session, send_key="k3", to="a@example.jp", template_key="nope", context={})


def test_japanese_carrier_addresses_with_odd_dots_are_accepted(app, db_session, template):
    with app.app_context():
        assert enqueue_mail(db_session, send_key="docomo", to="taro..yamada.@DoCoMo.ne.jp", template_key="hello",
                            context={})
        db_session.commit()
    row = db_session.scalar(select(OutboxMail))
    assert row.to_address == "taro..yamada.@docomo.ne.jp"
