"""Salesforce Outbound Messages: parse the SOAP 1.1 envelope, and build the Ack and the fault.

Salesforce POSTs `notifications` (namespace http://soap.sforce.com/2005/09/outbound) holding
OrganizationId, ActionId, SessionId, EnterpriseUrl, PartnerUrl and 1–100 `Notification`
elements, each with an `Id` (the notification id, stable across Salesforce's retries) and an
`sObject` whose fields are in namespace urn:sobject.enterprise.soap.sforce.com. The listener
must answer 200 with `notificationsResponse/Ack = true`, or Salesforce retries for 24 hours.

Parsing uses defusedxml with DTDs forbidden outright: a SOAP message never has a DTD, and every
entity attack (billion laughs, external entities, XXE) needs one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, ParseError, tostring

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOBJECT_NS = "urn:sobject.enterprise.soap.sforce.com"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
MAX_NOTIFICATIONS = 100
# 100 notifications of a wide object stay far below this; anything larger is not Salesforce.
MAX_BODY_BYTES = 2 * 1024 * 1024


class OutboundError(ValueError):
    """The message is not an Outbound Message we accept; the text goes into the SOAP fault."""


@dataclass(frozen=True)
class Notification:
    """One record change: Salesforce's notification id, the object, and the fields sent as text."""

    notification_id: str
    object_name: str
    fields: dict[str, str | None]
    raw: str


@dataclass(frozen=True)
class OutboundMessage:
    """One POSTed envelope."""

    organization_id: str
    action_id: str
    notifications: list[Notification] = field(default_factory=list)


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def _text(parent: Element, name: str, required: bool = True) -> str:
    child = parent.find(_q(OUTBOUND_NS, name))
    value = (child.text or "").strip() if child is not None else ""
    if required and not value:
        raise OutboundError(f"{name} is missing")
    return value


def _sobject(element: Element) -> tuple[str, dict[str, str | None]]:
    declared = element.get(_q(XSI_NS, "type"), "")
    object_name = declared.rsplit(":", 1)[-1]
    if not object_name.replace("_", "").isalnum():
        raise OutboundError("sObject has no xsi:type naming its object")
    values: dict[str, str | None] = {}
    for child in element:
        if not child.tag.startswith("{" + SOBJECT_NS + "}"):
            continue
        name = child.tag.split("}", 1)[1]
        if len(child):
            continue  # parent records are never sent by Outbound Messages; ignore rather than guess
        nil = child.get(_q(XSI_NS, "nil"), "").lower() == "true"
        values[name] = None if nil else (child.text or "")
    sf_id = values.get("Id") or ""
    if len(sf_id) not in (15, 18) or not sf_id.isalnum():
        raise OutboundError("sObject has no valid Id")
    return object_name, values


def parse(body: bytes) -> OutboundMessage:
    """The Outbound Message in `body`, or OutboundError saying what is wrong with it."""
    if not body:
        raise OutboundError("empty request")
    if len(body) > MAX_BODY_BYTES:
        raise OutboundError("message too large")
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise OutboundError(f"forbidden XML construct: {type(exc).__name__}") from None
    except (ParseError, ValueError) as exc:
        raise OutboundError(f"malformed XML: {exc}") from None
    if root.tag != _q(SOAP_ENV_NS, "Envelope"):
        raise OutboundError("not a SOAP 1.1 envelope")
    body_el = root.find(_q(SOAP_ENV_NS, "Body"))
    notifications_el = body_el.find(_q(OUTBOUND_NS, "notifications")) if body_el is not None else None
    if notifications_el is None:
        raise OutboundError("no notifications element")
    org_id = _text(notifications_el, "OrganizationId")
    action_id = _text(notifications_el, "ActionId", required=False)
    items = notifications_el.findall(_q(OUTBOUND_NS, "Notification"))
    if not 1 <= len(items) <= MAX_NOTIFICATIONS:
        raise OutboundError(f"expected 1 to {MAX_NOTIFICATIONS} notifications, got {len(items)}")
    notifications = []
    for item in items:
        notification_id = _text(item, "Id")
        if len(notification_id) > 40:
            raise OutboundError("notification Id too long")
        sobject = item.find(_q(OUTBOUND_NS, "sObject"))
        if sobject is None:
            raise OutboundError("notification without sObject")
        object_name, values = _sobject(sobject)
        notifications.append(Notification(notification_id, object_name, values,
                                          tostring(item, encoding="unicode")))
    return OutboundMessage(org_id, action_id, notifications)


def same_org(given: str, expected: str) -> bool:
    """True when two org ids name one org (15- and 18-character forms; the first 15 decide)."""
    if len(given) not in (15, 18) or len(expected) not in (15, 18):
        return False
    return given[:15] == expected[:15]


def ack() -> str:
    """The SOAP answer that tells Salesforce the message was received."""
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV_NS}"><soapenv:Body>'
            f'<notificationsResponse xmlns="{OUTBOUND_NS}"><Ack>true</Ack></notificationsResponse>'
            '</soapenv:Body></soapenv:Envelope>')


def fault(message: str, code: str = "Client") -> str:
    """A SOAP 1.1 fault (sent with HTTP 500) carrying `message` as the faultstring."""
    from xml.sax.saxutils import escape

    return ('<?xml version="1.0" encoding="UTF-8"?>'
            f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV_NS}"><soapenv:Body><soapenv:Fault>'
            f'<faultcode>soapenv:{code}</faultcode><faultstring>{escape(message)}</faultstring>'
            '</soapenv:Fault></soapenv:Body></soapenv:Envelope>')
