"""Outbound Messages: SOAP notifications POSTed when a record comes to meet a rule's criteria.

A rule (object, SOQL condition, fields, endpoint URL) fires when a record is created meeting the
condition or edited so that it newly meets it. Notifications queue per rule; a background thread
POSTs 1–100 of them per SOAP 1.1 message, reading each record's latest values at send time (as
Salesforce does), and retries with doubling gaps (capped at 2 hours, given up after 24 hours) until
the endpoint answers 200 with `<Ack>true</Ack>`. Every attempt is kept in a log readable from Python.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

import requests
from defusedxml import ElementTree

from devorg import ids, soql
from devorg.schema import ObjectDef

if TYPE_CHECKING:
    from devorg.org import DevOrg

OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
MAX_PER_MESSAGE = 100
MAX_GAP_SECONDS = 2 * 3600
GIVE_UP_SECONDS = 24 * 3600


@dataclass
class Rule:
    """One Outbound Message action."""

    action_id: str
    name: str
    obj: ObjectDef
    criteria: str
    predicate: soql.Predicate
    fields: list[str]
    endpoint_url: str
    every_edit: bool = False  # "created, and every time it's edited" rather than "…edited to meet criteria"


@dataclass
class Notification:
    """One queued notification of one record for one rule."""

    id: str
    rule: Rule
    record_id: str
    queued_at: float
    attempts: int = 0
    due_at: float = 0.0


@dataclass
class _State:
    rules: list[Rule] = field(default_factory=list)
    queue: list[Notification] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)
    in_flight: int = 0
    generation: int = 0


def _soap_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return repr(value)
    return escape(str(value))


def envelope(org_id: str, action_id: str, base_url: str, items: list[tuple[str, str, dict[str, Any]]]) -> str:
    """A SOAP 1.1 `notifications` envelope; `items` are (notification id, object name, fields)."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">',
        "<soapenv:Body>",
        f'<notifications xmlns="{OUTBOUND_NS}">',
        f"<OrganizationId>{escape(org_id)}</OrganizationId>",
        f"<ActionId>{escape(action_id)}</ActionId>",
        '<SessionId xsi:nil="true"/>',
        f"<EnterpriseUrl>{escape(base_url)}/services/Soap/c/59.0/{escape(org_id[:15])}</EnterpriseUrl>",
        f"<PartnerUrl>{escape(base_url)}/services/Soap/u/59.0/{escape(org_id[:15])}</PartnerUrl>",
    ]
    for notification_id, object_name, values in items:
        parts.append(f"<Notification><Id>{escape(notification_id)}</Id>")
        parts.append(f'<sObject xsi:type="sf:{object_name}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">')
        for name, value in values.items():
            if value is None:
                parts.append(f'<sf:{name} xsi:nil="true"/>')
            else:
                parts.append(f"<sf:{name}>{_soap_value(value)}</sf:{name}>")
        parts.append("</sObject></Notification>")
    parts.append("</notifications></soapenv:Body></soapenv:Envelope>")
    return "".join(parts)


def is_ack(status: int, body: bytes) -> bool:
    """True when the listener answered 200 with a notificationsResponse holding <Ack>true</Ack>."""
    if status != 200:
        return False
    try:
        root = ElementTree.fromstring(body)
    except Exception:  # any unparsable answer is simply not an acknowledgement
        return False
    ack = root.find(f".//{{{OUTBOUND_NS}}}notificationsResponse/{{{OUTBOUND_NS}}}Ack")
    return ack is not None and (ack.text or "").strip().lower() == "true"


class Outbound:
    """The rules, the queue and the sender thread of one org."""

    def __init__(self, org: DevOrg) -> None:
        self.org = org
        settings = org.definition["org"]
        self.retry_base_seconds = float(settings.get("outbound_retry_base_seconds", 5))
        self.timeout_seconds = float(settings.get("outbound_timeout_seconds", 10))
        self._state = _State()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._counter = 0
        org.store.listeners.append(self.on_change)

    def add_rule(self, obj: ObjectDef, criteria: str, fields: list[str], endpoint_url: str,
                 name: str | None, every_edit: bool = False) -> str:
        """Register a rule; criteria and field names are checked now (INVALID_FIELD, MALFORMED_QUERY)."""
        predicate = soql.parse_condition(criteria, obj, self.org.schema, self.org.store.now(), self.org.tz)
        names = []
        for field_name in ["Id", *fields]:
            fdef = obj.field(field_name)
            if fdef is None:
                raise ValueError(f"{obj.name} has no field {field_name!r}")
            if fdef.name not in names:
                names.append(fdef.name)
        with self._cond:
            self._counter += 1
            rule = Rule(ids.make_id(ids.ACTION_PREFIX, self._counter), name or f"{obj.name} rule {self._counter}",
                        obj, criteria, predicate, names, endpoint_url, every_edit)
            self._state.rules.append(rule)
        return rule.action_id

    def rules(self) -> list[Rule]:
        """The registered rules."""
        with self._cond:
            return list(self._state.rules)

    def on_change(self, obj: ObjectDef, old: dict[str, Any] | None, new: dict[str, Any]) -> None:
        """Store listener: queue a notification for each rule the record newly meets."""
        lookup = self.org.store.get
        with self._cond:
            for rule in self._state.rules:
                if rule.obj is not obj or new["IsDeleted"]:
                    continue
                was = old is not None and not old["IsDeleted"] and rule.predicate(old, lookup)
                if (was and not rule.every_edit) or not rule.predicate(new, lookup):
                    continue
                self._counter += 1
                now = time.monotonic()
                self._state.queue.append(Notification(ids.make_id(ids.NOTIFICATION_PREFIX, self._counter), rule,
                                                      new["Id"], now, due_at=now))
            self._cond.notify_all()

    # --- the sender thread ----------------------------------------------------------------
    def start(self) -> None:
        """Start the sender thread (idempotent)."""
        if self._thread is not None:
            return
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="devorg-outbound", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the sender thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_seconds + 2)
            self._thread = None

    def reset(self) -> None:
        """Forget rules, queued notifications and the log (an in-flight send is discarded)."""
        with self._cond:
            self._state = _State(generation=self._state.generation + 1)
            self._cond.notify_all()

    def log(self) -> list[dict[str, Any]]:
        """Every delivery attempt, oldest first."""
        with self._cond:
            return [dict(entry) for entry in self._state.log]

    def pending(self) -> int:
        """Notifications waiting for delivery."""
        with self._cond:
            return len(self._state.queue)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is queued or in flight; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._state.queue or self._state.in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def _next_batch(self) -> tuple[list[Notification], int] | None:
        """Due notifications of the rule whose oldest is most overdue (≤ 100), or None; under the lock."""
        now = time.monotonic()
        due = [n for n in self._state.queue if n.due_at <= now]
        if not due:
            return None
        rule = min(due, key=lambda n: n.due_at).rule
        batch = [n for n in due if n.rule is rule][:MAX_PER_MESSAGE]
        for notification in batch:
            self._state.queue.remove(notification)
        self._state.in_flight += 1
        return batch, self._state.generation

    def _run(self) -> None:
        session = requests.Session()
        while True:
            with self._cond:
                picked = None
                while not self._stopping:
                    picked = self._next_batch()
                    if picked:
                        break
                    waits = [n.due_at for n in self._state.queue]
                    self._cond.wait(max(min(waits) - time.monotonic(), 0.01) if waits else None)
                if self._stopping:
                    return
            assert picked is not None
            batch, generation = picked
            self._deliver(session, batch, generation)

    def _deliver(self, session: requests.Session, batch: list[Notification], generation: int) -> None:
        rule = batch[0].rule
        items = []
        with self.org.store.lock:
            for notification in batch:
                record = self.org.store.get(notification.record_id)
                if record is not None:
                    items.append((notification.id, rule.obj.name, {name: record.get(name) for name in rule.fields}))
        status, error, acked = 0, "", False
        if items:
            body = envelope(self.org.org_id, rule.action_id, self.org.instance_url, items)
            try:
                response = session.post(rule.endpoint_url, data=body.encode("utf-8"), timeout=self.timeout_seconds,
                                        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'})
                status = response.status_code
                acked = is_ack(status, response.content)
                if not acked:
                    error = response.text[:500]
            except requests.RequestException as exc:
                error = str(exc)[:500]
        with self._cond:
            self._state.in_flight -= 1 if generation == self._state.generation else 0
            if generation != self._state.generation:
                self._cond.notify_all()
                return
            attempt = max(n.attempts for n in batch) + 1
            self._state.log.append({
                "at": datetime.now(UTC), "action_id": rule.action_id, "rule": rule.name,
                "endpoint_url": rule.endpoint_url, "notification_ids": [i[0] for i in items],
                "record_ids": [i[2]["Id"] for i in items], "status": status, "acked": acked, "error": error,
                "attempt": attempt,
            })
            if items and not acked:
                now = time.monotonic()
                for notification in batch:
                    notification.attempts += 1
                    gap = min(self.retry_base_seconds * 2 ** (notification.attempts - 1), MAX_GAP_SECONDS)
                    if now - notification.queued_at < GIVE_UP_SECONDS:
                        notification.due_at = now + gap
                        self._state.queue.append(notification)
            self._cond.notify_all()
