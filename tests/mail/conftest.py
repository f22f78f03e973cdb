"""Helpers for mail tests: an app pointed at the SMTP sink, templates, and draining the outbox."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import select

import db
from mail.models import OutboxMail
from mail.outbox import enqueue_mail
from mail.sender import sender_for
from mail.templates import save_template

MAIL_SETTINGS = {
    "public_base_url": "https://mail.example.jp",
    "mail_from": "つなぎ商店 <news@example.jp>",
    "mail_sender_name": "株式会社つなぎ商店",
    "mail_sender_address": "東京都千代田区丸の内1-1-1",
    "mail_contact": "03-1234-5678",
    "mail_retry_base_seconds": 0.0,
    "mail_smtp_connections": 2,
}


@pytest.fixture
def mail_app(make_app, smtp_sink) -> Flask:
    """An app whose outbox sends to the sink, with compliance settings filled in."""
    app = make_app(smtp_url=smtp_sink.url, **MAIL_SETTINGS)
    yield app
    sender = app.extensions.get("tsunagi.mail.sender")
    if sender is not None:
        sender.close()


@pytest.fixture
def add_template(mail_app) -> Callable[..., None]:
    """`add_template(key, subject=…, html=…, text=None)` saves a template."""

    def add(key: str = "news", subject: str = "{{ person.LastName | default('お客') }} 様へのお知らせ",
            html: str = "<html><body><p>{{ person.LastName | default('お客') }} 様</p>"
                        "<p><a href=\"https://shop.example.jp/sale?a=1&b=2\">セール会場へ</a></p></body></html>",
            text: str | None = None) -> None:
        with mail_app.app_context(), db.transaction() as session:
            save_template(session, key=key, name=key, subject=subject, html=html, text=text)

    return add


@pytest.fixture
def enqueue(mail_app) -> Callable[..., bool]:
    """`enqueue(send_key, to, **kwargs)` queues a mail in its own transaction."""

    def add(send_key: str, to: str = "taro@example.jp", template_key: str = "news", **kwargs) -> bool:
        kwargs.setdefault("context", {"person": {"LastName": "山田"}})
        # These tests are about delivery; consent at send time has its own (test_consent.py), so their
        # marketing mail relies on an existing business relationship unless a test says otherwise.
        kwargs["context"] = {"consent_basis": "existing_relationship", **kwargs["context"]}
        with mail_app.app_context(), db.transaction() as session:
            return enqueue_mail(session, send_key=send_key, to=to, template_key=template_key, **kwargs)

    return add


@pytest.fixture
def drain(mail_app) -> Callable[[], int]:
    """Run the outbox work source until nothing is due; returns how many rows were processed."""

    def run() -> int:
        total = 0
        with mail_app.app_context():
            sender = sender_for(mail_app)
            while (n := sender.process("test-worker")) > 0:
                total += n
        return total

    return run


@pytest.fixture
def outbox_rows(mail_app) -> Callable[[], list[OutboxMail]]:
    """Every outbox row, by id."""

    def rows() -> list[OutboxMail]:
        with db.get_db(mail_app).sessionmaker() as session:
            return list(session.scalars(select(OutboxMail).order_by(OutboxMail.id)))

    return rows
