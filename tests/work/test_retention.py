"""The daily retention job: old finished rows go in batches, recent or unfinished ones stay, and
consent records stay as long as the law asks."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

import db
from activity.models import Activity
from mail.models import MailConsent, OutboxMail
from sync.models import ChangeEvent
from work import queue
from work.worker import run_jobs
from writeback.models import WritebackItem


def _event(age, processed=True):
    now = db.utcnow()
    return ChangeEvent(object_name="Contact", record_id="003000000000001AAA", kind="updated", field="Phone",
                       occurred_at=now - age, recorded_at=now - age, source="poll",
                       processed_at=(now - age) if processed else None)


def _mail(key, age, status="sent", logged=True, marketing=True, to="x@example.jp"):
    now = db.utcnow()
    return OutboxMail(send_key=key, to_address=to, to_domain="example.jp", template_key="news", message_id=key,
                      status=status, marketing=marketing, created_at=now - age, sent_at=now - age,
                      logged_at=(now - age) if logged else None)


def test_retention_deletes_old_finished_rows_in_batches_and_keeps_consent_the_law_needs(make_app):
    app = make_app(retention_change_events_days=30, retention_outbox_days=90, retention_writeback_days=90,
                   retention_activities_days=400)
    days = lambda n: timedelta(days=n)  # noqa: E731
    with db.get_db(app).transaction() as session:
        session.add_all([_event(days(31)) for _ in range(7)] + [_event(days(29)), _event(days(60), processed=False)])
        session.add_all([Activity(kind="page_view", occurred_at=db.utcnow() - days(401), details={}),
                         Activity(kind="page_view", occurred_at=db.utcnow() - days(10), details={})])
        session.add_all([_mail("old-sent", days(91)), _mail("old-unlogged", days(91), logged=False),
                         _mail("recent", days(5)), _mail("old-queued", days(91), status="queued", logged=False),
                         _mail("to-b", days(10), to="b@example.jp")])
        session.add_all([WritebackItem(idempotency_key="old", object_name="Task", operation="create", status="written",
                                       created_at=db.utcnow() - days(91)),
                         WritebackItem(idempotency_key="old-failed", object_name="Task", operation="create",
                                       status="failed", created_at=db.utcnow() - days(91))])
        session.add_all([
            # a: granted, withdrawn 40 days ago: the grant's month is over, the withdrawal stays as proof
            MailConsent(address="a@example.jp", granted=True, source="form", occurred_at=db.utcnow() - days(300)),
            MailConsent(address="a@example.jp", granted=False, source="one_click", occurred_at=db.utcnow() - days(40)),
            # b: granted again 40 days ago, but a marketing mail went 10 days ago: both stay
            MailConsent(address="b@example.jp", granted=True, source="form", occurred_at=db.utcnow() - days(300)),
            MailConsent(address="b@example.jp", granted=True, source="form", occurred_at=db.utcnow() - days(40)),
            # c: one old consent, still what mail to c rests on
            MailConsent(address="c@example.jp", granted=True, source="import", occurred_at=db.utcnow() - days(900)),
            # d: withdrawn 10 days ago: the grant is kept for a month after
            MailConsent(address="d@example.jp", granted=True, source="form", occurred_at=db.utcnow() - days(300)),
            MailConsent(address="d@example.jp", granted=False, source="one_click", occurred_at=db.utcnow() - days(10)),
        ])
        queue.enqueue(session, "work.retention")
    from work import retention

    with app.app_context():
        deleted = retention.purge(batch=3)  # several committed batches per table
    assert deleted["change_events"] == 7
    assert run_jobs(app, "w1") == 1  # the job itself runs and finds nothing more
    with db.get_db(app).transaction() as session:
        assert len(session.scalars(select(ChangeEvent)).all()) == 2
        assert len(session.scalars(select(Activity)).all()) == 1
        assert set(session.scalars(select(OutboxMail.send_key))) == {"old-unlogged", "recent", "old-queued", "to-b"}
        assert set(session.scalars(select(WritebackItem.idempotency_key))) == {"old-failed"}
        consents = sorted((c.address, c.granted) for c in session.scalars(select(MailConsent)))
    assert consents == [("a@example.jp", False), ("b@example.jp", True), ("b@example.jp", True),
                        ("c@example.jp", True), ("d@example.jp", False), ("d@example.jp", True)]
