"""POST /webhooks/salesforce/outbound: Salesforce Outbound Messages are acked, stored once and applied."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

import db
from salesforce.models import ObjectDescribe
from sync.models import ChangeEvent, MirrorRecord, SyncObject
from webhooks.jobs import apply_outbound
from webhooks.models import OutboundNotification

ORG = "00D000000000001AAA"
URL = "/webhooks/salesforce/outbound"
LEAD_TYPES = {"Id": "id", "SystemModstamp": "datetime", "IsDeleted": "boolean", "LastName": "string",
              "Status": "picklist", "NumberOfEmployees": "int"}


def notification(n: int, status: str = "不在", record: str | None = None,
                 stamp: str = "2026-11-20T10:05:00.000Z") -> str:
    record = record or f"00Q{n:012d}AAA"
    return f"""
   <Notification>
    <Id>04l{n:012d}AAA</Id>
    <sObject xsi:type="sf:Lead" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>{record}</sf:Id>
     <sf:IsDeleted>false</sf:IsDeleted>
     <sf:LastName>山田</sf:LastName>
     <sf:NumberOfEmployees xsi:nil="true"/>
     <sf:Status>{status}</sf:Status>
     <sf:SystemModstamp>{stamp}</sf:SystemModstamp>
    </sObject>
   </Notification>"""


def envelope(*notifications: str, org: str = ORG) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>{org}</OrganizationId>
   <ActionId>04k000000000001AAA</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>https://example.my.salesforce.com/services/Soap/c/59.0/{org[:15]}</EnterpriseUrl>
   <PartnerUrl>https://example.my.salesforce.com/services/Soap/u/59.0/{org[:15]}</PartnerUrl>
   {"".join(notifications)}
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>""".encode()


@pytest.fixture
def outbound_app(make_app):
    app = make_app(salesforce_org_id=ORG)
    with db.get_db(app).transaction() as s:
        s.add(ObjectDescribe(object_name="Lead", fields={name: {"type": kind} for name, kind in LEAD_TYPES.items()},
                             described_at=db.utcnow()))
        s.add(SyncObject(object_name="Lead", last_changed=0, consecutive_failures=0))
    return app


def post(app, body: bytes):
    return app.test_client().post(URL, data=body, headers={"Content-Type": "text/xml; charset=utf-8",
                                                           "SOAPAction": '""'})


def count(app, model) -> int:
    with db.get_db(app).transaction() as s:
        return s.scalar(select(func.count()).select_from(model))


def assert_acked(response) -> None:
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "notificationsResponse" in body and "<Ack>true</Ack>" in body
    assert "http://soap.sforce.com/2005/09/outbound" in body


def assert_refused(response, reason: str) -> None:
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "<faultcode>soapenv:Client</faultcode>" in body and reason in body


OPEN, WORKING = "Open - Not Contacted", "Working - Contacted"


@pytest.fixture
def org_app(make_app, devorg):
    """The app on the dev org: notifications are checked against what Salesforce itself holds."""
    return make_app(**devorg.app_settings(),
                    config={"SALESFORCE_GATEWAY_OPTIONS": {"max_retries": 0, "backoff_seconds": 0.01}})


def lead_notification(n: int, record: str, status: str, stamp: str = "2026-11-20T10:05:00.000Z") -> str:
    return notification(n, status=status, record=record, stamp=stamp)


def test_outbound_message_is_acked_then_the_record_is_read_from_salesforce(org_app, devorg):
    lead = devorg.insert("Lead", LastName="山田", Company="個人", Status=WORKING)
    started = time.monotonic()
    assert_acked(post(org_app, envelope(lead_notification(1, lead, WORKING), org=devorg.org_id)))
    assert time.monotonic() - started < 1.0
    assert apply_outbound(org_app, "w1") == 1
    with db.get_db(org_app).transaction() as s:
        row = s.get(MirrorRecord, lead)
        truth = devorg.get("Lead", lead)
        assert row.fields["Status"] == WORKING and row.fields["Company"] == "個人"  # every field, not only those sent
        assert row.fields["SystemModstamp"] == truth["SystemModstamp"]
        assert [(e.kind, e.source) for e in s.scalars(select(ChangeEvent))] == [("created", "outbound")]
        assert s.scalar(select(OutboundNotification.status)) == "done"


def test_same_outbound_notification_twice_changes_mirror_once(org_app, devorg):
    lead = devorg.insert("Lead", LastName="山田", Company="個人", Status=OPEN)
    with db.get_db(org_app).transaction() as s:
        from sync.mirror import apply_records

        apply_records(s, "Lead", [devorg.get("Lead", lead)], "poll")
    devorg.update("Lead", lead, Status=WORKING)
    assert_acked(post(org_app, envelope(lead_notification(1, lead, WORKING), org=devorg.org_id)))
    assert_acked(post(org_app, envelope(lead_notification(1, lead, WORKING), org=devorg.org_id)))
    assert count(org_app, OutboundNotification) == 1
    apply_outbound(org_app, "w1")
    assert apply_outbound(org_app, "w1") == 0
    with db.get_db(org_app).transaction() as s:
        events = [(e.kind, e.field, e.old_value, e.new_value, e.source)
                  for e in s.scalars(select(ChangeEvent).where(ChangeEvent.source == "outbound"))]
    assert events == [("updated", "Status", OPEN, WORKING, "outbound")]


def test_an_older_retry_of_a_notification_does_not_undo_a_newer_change(org_app, devorg):
    lead = devorg.insert("Lead", LastName="山田", Company="個人", Status=OPEN)
    devorg.update("Lead", lead, Status=WORKING)
    post(org_app, envelope(lead_notification(2, lead, WORKING), org=devorg.org_id))
    apply_outbound(org_app, "w1")
    post(org_app, envelope(lead_notification(1, lead, OPEN), org=devorg.org_id))  # late, out of order
    apply_outbound(org_app, "w1")
    with db.get_db(org_app).transaction() as s:
        assert s.get(MirrorRecord, lead).fields["Status"] == WORKING


def test_hundred_notifications_are_acked_stored_and_read_in_one_query(org_app, devorg):
    leads = [devorg.insert("Lead", LastName=f"山田{n}", Company="個人") for n in range(100)]
    assert_acked(post(org_app, envelope(*(lead_notification(n, lead, OPEN) for n, lead in enumerate(leads)),
                                        org=devorg.org_id)))
    assert count(org_app, OutboundNotification) == 100
    apply_outbound(org_app, "w0")  # the first pass also reads the object's describe
    assert count(org_app, MirrorRecord) == 100
    more = [devorg.insert("Lead", LastName=f"田中{n}", Company="個人") for n in range(100)]
    assert_acked(post(org_app, envelope(*(lead_notification(100 + n, lead, OPEN) for n, lead in enumerate(more)),
                                        org=devorg.org_id)))
    # Counting calls: a short page (which Salesforce may send, and the fixture turns on at random)
    # would add a legitimate query-more call; the pages themselves are tested with the sync.
    devorg.set_short_pages(False)
    calls = devorg.api_calls
    assert apply_outbound(org_app, "w1") == 100
    assert devorg.api_calls - calls == 1  # one query for the whole batch
    assert count(org_app, MirrorRecord) == 200


def test_more_than_hundred_notifications_are_refused(outbound_app):
    assert_refused(post(outbound_app, envelope(*(notification(n) for n in range(101)))), "notifications")
    assert count(outbound_app, OutboundNotification) == 0


def test_foreign_organization_is_refused_and_nothing_is_stored(outbound_app):
    assert_refused(post(outbound_app, envelope(notification(1), org="00D999999999999AAA")), "OrganizationId")
    assert count(outbound_app, OutboundNotification) == 0


def test_fifteen_character_org_id_is_accepted(outbound_app):
    assert_acked(post(outbound_app, envelope(notification(1), org=ORG[:15])))


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">]>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>
<notifications xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>&lol9;</OrganizationId>
</notifications></soapenv:Body></soapenv:Envelope>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>
<notifications xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>00D000000000001AAA</OrganizationId>
<Notification><Id>04l000000000001AAA</Id><sObject xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
 xsi:type="sf:Lead" xmlns:sf="urn:sobject.enterprise.soap.sforce.com"><sf:Id>00Q000000000001AAA</sf:Id>
<sf:LastName>&xxe;</sf:LastName></sObject></Notification></notifications></soapenv:Body></soapenv:Envelope>"""


@pytest.mark.parametrize(("body", "reason"), [
    (BILLION_LAUGHS, "forbidden XML"),
    (XXE, "forbidden XML"),
    (b"<soapenv:Envelope><unclosed>", "malformed XML"),
    (b"", "empty"),
    (b"<hello/>", "SOAP"),
], ids=["billion-laughs", "xxe", "malformed", "empty", "not-soap"])
def test_hostile_or_broken_xml_gets_a_soap_fault_quickly_and_changes_nothing(outbound_app, body, reason):
    started = time.monotonic()
    response = post(outbound_app, body)
    assert time.monotonic() - started < 1.0
    assert_refused(response, reason)
    assert "root:" not in response.get_data(as_text=True)
    assert count(outbound_app, OutboundNotification) == 0
    assert count(outbound_app, MirrorRecord) == 0


def test_without_a_known_org_id_every_message_is_refused(make_app):
    app = make_app()  # no SALESFORCE_ORG_ID and no dev org running
    assert_refused(post(app, envelope(notification(1))), "SALESFORCE_ORG_ID")


def test_outbound_endpoint_needs_no_csrf_token(make_app):
    app = make_app(salesforce_org_id=ORG, config={"WTF_CSRF_ENABLED": True})
    assert_acked(post(app, envelope(notification(1))))
