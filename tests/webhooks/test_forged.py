"""Forged Outbound Messages: anyone who knows the org id can POST one, so a notification is a hint only.

The attacks from issue 13: a notification carrying another Email and SystemModstamp=2099-12-31
must not poison the mirror (nor block later real changes), and a notification for a Task that
Salesforce does not have must fire nothing. The endpoint is rate limited, failing notifications
end after OUTBOUND_MAX_ATTEMPTS tries and are shown to admins.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

import db
from automations.models import Enrollment
from devorg.ids import to18
from mail.models import OutboxMail
from salesforce import gateway_for
from sync.models import ChangeEvent, MirrorRecord
from tests.webhooks.test_outbound import assert_acked, envelope, post
from webhooks.jobs import apply_outbound
from webhooks.models import OutboundNotification

ABSENT = Path(__file__).resolve().parents[2] / "automations" / "examples" / "absent_follow_up.yaml"
_counter = {"n": 0}


def forged(object_name: str, record: str, stamp: str, **fields: str) -> str:
    """One Notification element as Salesforce would shape it (a fresh notification id each time)."""
    _counter["n"] += 1
    values = "".join(f"<sf:{k}>{v}</sf:{k}>" for k, v in fields.items())
    return f"""<Notification><Id>04l{_counter['n']:012d}AAA</Id>
     <sObject xsi:type="sf:{object_name}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
      <sf:Id>{record}</sf:Id>{values}<sf:SystemModstamp>{stamp}</sf:SystemModstamp></sObject></Notification>"""


def _stamp(when) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.fixture
def org_app(make_app, devorg):
    app = make_app(**devorg.app_settings(),
                   config={"SALESFORCE_GATEWAY_OPTIONS": {"max_retries": 0, "backoff_seconds": 0.01}})
    loaded = app.test_cli_runner().invoke(args=["automations", "load", str(ABSENT)])
    assert loaded.exit_code == 0, loaded.output
    return app


def _mirror(app, sf_id: str) -> dict | None:
    with db.get_db(app).transaction() as s:
        row = s.get(MirrorRecord, sf_id)
        return dict(row.fields) if row is not None else None


def _events(app, sf_id: str) -> list[tuple]:
    with db.get_db(app).transaction() as s:
        return [(e.kind, e.field, e.new_value) for e in
                s.scalars(select(ChangeEvent).where(ChangeEvent.record_id == sf_id).order_by(ChangeEvent.id))]


def _statuses(app) -> list[tuple[str, str | None]]:
    with db.get_db(app).transaction() as s:
        rows = s.scalars(select(OutboundNotification).order_by(OutboundNotification.id))
        return [(n.status, n.last_error) for n in rows]


def _drain(app) -> None:
    from work.worker import work_once

    while work_once(app, "test-worker"):
        pass


def test_a_forged_email_with_a_far_future_stamp_changes_nothing_and_later_real_changes_still_apply(
        org_app, devorg):
    contact = devorg.insert("Contact", LastName="山田", Email="hanako@example.jp")
    assert org_app.test_cli_runner().invoke(args=["sync", "run", "--once"]).exit_code == 0
    before = _mirror(org_app, contact)
    assert_acked(post(org_app, envelope(forged("Contact", contact, "2099-12-31T00:00:00.000Z",
                                               Email="attacker@evil.example", LastName="偽者"),
                                        org=devorg.org_id)))
    apply_outbound(org_app, "w1")
    assert _mirror(org_app, contact) == before
    [(status, why)] = _statuses(org_app)
    assert status == "ignored" and "future" in why
    # The same forgery with a believable stamp: Salesforce is asked, and Salesforce says otherwise.
    assert_acked(post(org_app, envelope(forged("Contact", contact, _stamp(db.utcnow()),
                                               Email="attacker@evil.example"), org=devorg.org_id)))
    apply_outbound(org_app, "w1")
    assert _mirror(org_app, contact)["Email"] == "hanako@example.jp"
    assert [e for e in _events(org_app, contact) if e[0] == "updated"] == []
    # A real change afterwards (its Outbound Message, then the poll) is applied as usual.
    devorg.update("Contact", contact, Email="hanako.new@example.jp")
    real = devorg.get("Contact", contact)
    assert_acked(post(org_app, envelope(forged("Contact", contact, real["SystemModstamp"].replace("+0000", "Z"),
                                               Email="hanako.new@example.jp"), org=devorg.org_id)))
    apply_outbound(org_app, "w1")
    assert _mirror(org_app, contact)["Email"] == "hanako.new@example.jp"
    devorg.update("Contact", contact, LastName="山田（旧姓）")
    # The poll's `updated` lists a change once the org's clock has passed its minute.
    devorg.set_clock_offset(timedelta(minutes=1, seconds=1))
    gateway_for(org_app).limits()
    assert org_app.test_cli_runner().invoke(args=["sync", "run", "--once"]).exit_code == 0
    assert _mirror(org_app, contact)["LastName"] == "山田（旧姓）"


def test_a_mirror_poisoned_before_this_fix_heals_on_the_next_real_notification(org_app, devorg):
    from sync.mirror import apply_records

    contact = devorg.insert("Contact", LastName="山田", Email="hanako@example.jp")
    assert org_app.test_cli_runner().invoke(args=["sync", "run", "--once"]).exit_code == 0
    with db.get_db(org_app).transaction() as s:  # what the old worker did with a forged message
        apply_records(s, "Contact", [{"Id": contact, "SystemModstamp": "2099-12-31T00:00:00.000Z",
                                      "Email": "attacker@evil.example"}], "outbound")
    assert _mirror(org_app, contact)["Email"] == "attacker@evil.example"
    real = devorg.get("Contact", contact)
    assert_acked(post(org_app, envelope(forged("Contact", contact, real["SystemModstamp"].replace("+0000", "Z")),
                                        org=devorg.org_id)))
    apply_outbound(org_app, "w1")
    healed = _mirror(org_app, contact)
    assert (healed["Email"], healed["SystemModstamp"]) == ("hanako@example.jp", real["SystemModstamp"])
    with db.get_db(org_app).transaction() as s:
        assert s.get(MirrorRecord, contact).system_modstamp.year < 2099


def test_a_forged_absent_visit_for_a_task_salesforce_does_not_have_fires_nothing(org_app, devorg):
    contact = devorg.insert("Contact", LastName="山田", Email="hanako@example.jp")
    assert org_app.test_cli_runner().invoke(args=["sync", "run", "--once"]).exit_code == 0
    ghost = to18("00T" + "9" * 12)  # well formed, but Salesforce has no such Task
    assert_acked(post(org_app, envelope(forged("Task", ghost, _stamp(db.utcnow()), Subject="訪問結果",
                                               WhoId=contact, Visit_Result__c="不在"), org=devorg.org_id)))
    _drain(org_app)
    assert _mirror(org_app, ghost) is None
    assert _events(org_app, ghost) == []
    assert _statuses(org_app) == [("ignored", "Salesforce has no record with this Id")]
    with db.get_db(org_app).transaction() as s:
        assert s.scalars(select(Enrollment)).all() == []
        assert s.scalars(select(OutboxMail)).all() == []


def test_a_malformed_id_next_to_a_real_one_is_ignored_and_does_not_spoil_the_batch(org_app, devorg):
    lead = devorg.insert("Lead", LastName="山田", Company="個人")
    bad = "00Q" + "1" * 12 + "AAA"  # the checksum of this body is not AAA: Salesforce would refuse the query
    now = _stamp(db.utcnow())
    assert_acked(post(org_app, envelope(forged("Lead", bad, now), forged("Lead", lead, now), org=devorg.org_id)))
    apply_outbound(org_app, "w1")
    assert _mirror(org_app, lead)["LastName"] == "山田"
    assert sorted(_statuses(org_app)) == [("done", None), ("ignored", "not a valid Salesforce Id (checksum)")]


def test_a_notification_for_an_object_that_is_not_mirrored_costs_no_call(org_app, devorg):
    calls = devorg.api_calls
    # Case is not in the default SYNC_OBJECTS (Opportunity now is).
    assert_acked(post(org_app, envelope(forged("Case", "500" + "1" * 12 + "AAA", _stamp(db.utcnow()),
                                               Name="x"), org=devorg.org_id)))
    apply_outbound(org_app, "w1")
    assert devorg.api_calls == calls
    [(status, why)] = _statuses(org_app)
    assert status == "ignored" and "SYNC_OBJECTS" in why


def test_a_notification_that_keeps_failing_ends_after_the_set_tries_and_is_shown_to_admins(
        make_app, devorg, sign_in):
    app = make_app(**devorg.app_settings(), outbound_max_attempts=3,
                   config={"SALESFORCE_GATEWAY_OPTIONS": {"max_retries": 0, "backoff_seconds": 0.01}})
    lead = devorg.insert("Lead", LastName="山田", Company="個人")
    devorg.inject_fault(r"query", "503", count=100)
    assert_acked(post(app, envelope(forged("Lead", lead, _stamp(db.utcnow())), org=devorg.org_id)))
    calls = []
    for _ in range(5):
        before = devorg.api_calls
        apply_outbound(app, "w1")
        calls.append(devorg.api_calls - before)
        with db.get_db(app).transaction() as s:  # the back-off elapses
            s.execute(update(OutboundNotification).values(due_at=db.utcnow() - timedelta(seconds=1)))
    [(status, why)] = _statuses(app)
    assert status == "failed" and why
    assert sum(1 for c in calls if c) <= 3  # no more tries once failed
    devorg.clear_faults()
    admin = sign_in("admin", app.test_client())
    page = admin.get("/admin/webhooks").get_data(as_text=True)
    assert lead in page and "failed" in page
    assert sign_in("operator", app.test_client()).get("/admin/webhooks").status_code == 403
    # Once Salesforce answers again, the admin sends it round once more and it is applied.
    answer = admin.post("/admin/webhooks/retry")
    assert answer.status_code == 303
    assert "1 件をもう一度確認します" in admin.get(answer.headers["Location"]).get_data(as_text=True)
    apply_outbound(app, "w1")
    assert _statuses(app) == [("done", None)]
    assert _mirror(app, lead)["LastName"] == "山田"
    assert "webhooks.retry_failed" in admin.get("/admin/audit").get_data(as_text=True)


def test_the_endpoint_is_rate_limited_per_source_and_overall(make_app, devorg):
    app = make_app(**devorg.app_settings(), outbound_rate_limit_per_ip=2, outbound_rate_limit_global=3,
                   trusted_proxies=1)
    client = app.test_client()

    def send(address: str, body: bytes | None = None):
        body = body or envelope(forged("Lead", "00Q" + "1" * 12 + "AAA", _stamp(db.utcnow())), org=devorg.org_id)
        return client.post("/webhooks/salesforce/outbound", data=body, headers={
            "Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""', "X-Forwarded-For": address},
            environ_overrides={"REMOTE_ADDR": "10.0.0.2"}), body

    first, replay = send("203.0.113.7")
    assert first.status_code == 200
    assert send("203.0.113.7")[0].status_code == 200
    limited = send("203.0.113.7")[0]
    assert limited.status_code == 503 and "<faultcode>soapenv:Server</faultcode>" in limited.get_data(as_text=True)
    assert limited.headers["Retry-After"]
    assert send("198.51.100.23")[0].status_code == 200  # another source has its own allowance
    assert send("198.51.100.24")[0].status_code == 503  # …until the overall limit is reached
    assert send("203.0.113.7", replay)[0].status_code == 200  # a retry of a stored message is acked
    with db.get_db(app).transaction() as s:
        assert len(s.scalars(select(OutboundNotification)).all()) == 3


def test_with_an_allow_list_only_those_networks_may_send(make_app, devorg):
    app = make_app(**devorg.app_settings(), outbound_allowed_networks=("203.0.113.0/24",))
    body = envelope(forged("Lead", "00Q" + "1" * 12 + "AAA", _stamp(db.utcnow())), org=devorg.org_id)
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}
    client = app.test_client()
    refused = client.post("/webhooks/salesforce/outbound", data=body, headers=headers,
                          environ_overrides={"REMOTE_ADDR": "198.51.100.9"})
    assert refused.status_code == 403
    accepted = client.post("/webhooks/salesforce/outbound", data=body, headers=headers,
                           environ_overrides={"REMOTE_ADDR": "203.0.113.40"})
    assert_acked(accepted)
