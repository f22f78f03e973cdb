"""Outbound Messages: real SOAP envelopes POSTed to a listener on loopback, retried until acknowledged."""

from __future__ import annotations

import threading
import time
from http.server import ThreadingHTTPServer

import pytest
from defusedxml import ElementTree

from tests.fixtures.http_server import QuietHandler

pytestmark = pytest.mark.db_independent

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
OUT = "http://soap.sforce.com/2005/09/outbound"
SF = "urn:sobject.enterprise.soap.sforce.com"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
ACK = (f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAP}"><soapenv:Body>'
       f'<notificationsResponse xmlns="{OUT}"><Ack>true</Ack></notificationsResponse></soapenv:Body>'
       "</soapenv:Envelope>")


class Listener:
    """An Outbound Message endpoint: records every POST; answers from `replies` (then acks)."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.replies: list[tuple[int, str]] = []
        self.delay = 0.0
        listener = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                listener.received.append({"body": body, "headers": dict(self.headers), "at": time.monotonic()})
                time.sleep(listener.delay)
                status, text = listener.replies.pop(0) if listener.replies else (200, ACK)
                self.reply(status, text.encode(), {"Content-Type": "text/xml; charset=utf-8"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/webhooks/salesforce/outbound"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener():
    running = Listener()
    yield running
    running.close()


def _notifications(body: bytes) -> tuple[ElementTree.Element, list[ElementTree.Element]]:
    root = ElementTree.fromstring(body)
    notifications = root.find(f"{{{SOAP}}}Body/{{{OUT}}}notifications")
    return notifications, notifications.findall(f"{{{OUT}}}Notification")


def test_record_coming_to_meet_criteria_sends_one_soap_notification(devorg, listener):
    action = devorg.add_outbound_rule("Contact", "Absent__c = true", ["Email", "Absent__c", "LastModifiedDate"],
                                      listener.url)
    contact = devorg.insert("Contact", LastName="山田", Email="yamada@example.jp")
    devorg.update("Contact", contact, Absent__c=True)
    devorg.update("Contact", contact, Email="yamada2@example.jp")  # still absent: not "coming to meet"
    assert devorg.wait_outbound_idle(timeout=10)
    assert len(listener.received) == 1
    request = listener.received[0]
    assert request["headers"]["Content-Type"] == "text/xml; charset=utf-8"
    assert request["headers"]["SOAPAction"] == '""'
    notifications, items = _notifications(request["body"])
    assert notifications.findtext(f"{{{OUT}}}OrganizationId") == devorg.org_id
    assert notifications.findtext(f"{{{OUT}}}ActionId") == action
    assert notifications.find(f"{{{OUT}}}SessionId").get(f"{{{XSI}}}nil") == "true"
    assert notifications.findtext(f"{{{OUT}}}EnterpriseUrl").startswith(devorg.instance_url)
    assert notifications.findtext(f"{{{OUT}}}PartnerUrl").startswith(devorg.instance_url)
    assert len(items) == 1 and items[0].findtext(f"{{{OUT}}}Id").startswith("04l")
    sobject = items[0].find(f"{{{OUT}}}sObject")
    assert sobject.get(f"{{{XSI}}}type") == "sf:Contact"
    assert sobject.findtext(f"{{{SF}}}Id") == contact
    assert sobject.findtext(f"{{{SF}}}Absent__c") == "true"
    # values are read when the message is sent, so the latest email goes out
    assert sobject.findtext(f"{{{SF}}}Email") in ("yamada@example.jp", "yamada2@example.jp")
    assert sobject.findtext(f"{{{SF}}}LastModifiedDate").endswith("Z")
    log = devorg.outbound_log()
    assert [(e["acked"], e["record_ids"]) for e in log] == [(True, [contact])]


def test_unacknowledged_message_is_retried_with_growing_gaps(devorg, listener):
    devorg.outbound.retry_base_seconds = 0.1
    listener.replies = [(500, "oops"), (200, "<not-an-ack/>")]
    devorg.add_outbound_rule("Task", "Visit_Result__c = '不在'", ["Visit_Result__c", "WhoId"], listener.url)
    task = devorg.insert("Task", Subject="訪問", Visit_Result__c="不在")
    assert devorg.wait_outbound_idle(timeout=10)
    assert [e["acked"] for e in devorg.outbound_log()] == [False, False, True]
    assert [e["status"] for e in devorg.outbound_log()] == [500, 200, 200]
    times = [r["at"] for r in listener.received]
    assert times[2] - times[1] > times[1] - times[0] >= 0.1
    ids_sent = {_notifications(r["body"])[1][0].findtext(f"{{{OUT}}}Id") for r in listener.received}
    assert len(ids_sent) == 1  # the same notification, redelivered
    assert all(task in e["record_ids"] for e in devorg.outbound_log())


def test_unreachable_endpoint_is_logged_and_retried(devorg, listener):
    devorg.outbound.retry_base_seconds = 0.1
    url = listener.url
    listener.close()
    devorg.add_outbound_rule("Lead", "Score__c > 50", ["Score__c"], url)
    devorg.insert("Lead", LastName="熱い", Company="c", Score__c=80)
    deadline = time.monotonic() + 5
    while len(devorg.outbound_log()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    log = devorg.outbound_log()
    assert len(log) >= 2 and not any(e["acked"] for e in log) and log[0]["error"]
    assert devorg.outbound.pending() == 1


def test_many_changes_go_out_at_most_100_per_message(devorg, listener):
    listener.delay = 0.3  # while the first message is in flight, the rest queue up
    devorg.add_outbound_rule("Contact", "Id != null", ["LastName"], listener.url, every_edit=True)
    with devorg.store.transaction():
        made = [devorg.insert("Contact", LastName=f"c{n}") for n in range(150)]
    assert devorg.wait_outbound_idle(timeout=15)
    sizes = [len(_notifications(r["body"])[1]) for r in listener.received]
    assert max(sizes) <= 100 and max(sizes) > 1
    sent = [rid for e in devorg.outbound_log() for rid in e["record_ids"]]
    assert sorted(sent) == sorted(made)


def test_rule_with_unknown_field_in_criteria_is_refused(devorg, listener):
    from devorg.errors import ApiError

    with pytest.raises(ApiError) as caught:
        devorg.add_outbound_rule("Contact", "Nope__c = true", ["Email"], listener.url)
    assert caught.value.code == "INVALID_FIELD"
