"""How a create is made safe to repeat: never a second record when an answer was lost.

A create whose answer never arrived (timeout after Salesforce committed, a 5xx after the body was
sent, a worker killed mid-call) may or may not exist in Salesforce. Three ways, strongest first:

1. **External id** (WRITEBACK_EXTERNAL_ID_FIELDS, default Lead/Contact `Tsunagi_Key__c`, unique):
   the create is sent as an upsert on that field with the item's key. Re-sending finds the record
   made the first time and updates it with the same values. Nothing to look up.
2. **Marker field** (WRITEBACK_MARKER_FIELDS, e.g. a text field `Task.Tsunagi_Key__c`): the key is
   written into the field; before re-sending an uncertain create the worker queries for it.
3. **Neither**: before re-sending an uncertain create the worker queries for a record with every
   filterable value it sent, created since the first attempt (less a clock-skew margin), that no
   other written item already claims. Two identical creates inside that window are the limit of
   this method; give such objects a marker field.

An item is "uncertain" (`WritebackItem.uncertain_since`) from just before the create is sent until
a definite answer is recorded; the flag is committed first, so a crash cannot hide it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from db import Database
from salesforce import describe as describes
from salesforce.gateway import SalesforceGateway

# Salesforce text fields created for the key hold 64 characters (devorg/org.yaml, docs/salesforce.md).
KEY_FIELD_LENGTH = 64
CLOCK_SKEW = timedelta(minutes=5)
_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# Field types whose values compare exactly in SOQL as we sent them (dates need unquoted literals,
# numbers may come back rounded, long text cannot be filtered at all).
_MATCHABLE_TYPES = frozenset({"string", "picklist", "multipicklist", "combobox", "email", "phone", "url", "reference",
                              "id", "boolean", "int"})


def key_value(idempotency_key: str) -> str:
    """The value written to Tsunagi_Key__c for an item: its key, or a digest when longer than the field."""
    if len(idempotency_key) <= KEY_FIELD_LENGTH:
        return idempotency_key
    return "sha256:" + hashlib.sha256(idempotency_key.encode()).hexdigest()[: KEY_FIELD_LENGTH - 7]


def _pairs(values: Collection[str]) -> dict[str, str]:
    return dict(pair.split(".", 1) for pair in values)


@dataclass(frozen=True)
class CreatePolicy:
    """Which objects are created by upsert on an external id, and which carry a marker field."""

    external_ids: dict[str, str]
    markers: dict[str, str]

    @classmethod
    def from_settings(cls, settings: Any) -> CreatePolicy:
        """Read WRITEBACK_EXTERNAL_ID_FIELDS and WRITEBACK_MARKER_FIELDS."""
        return cls(_pairs(settings.writeback_external_id_fields), _pairs(settings.writeback_marker_fields))

    def external_id_for(self, object_name: str) -> str | None:
        """The unique external id field creates of `object_name` upsert on, if any."""
        return self.external_ids.get(object_name)

    def marker_for(self, object_name: str) -> str | None:
        """The text field that carries the key of `object_name` creates, if any."""
        return self.markers.get(object_name)


class Unverifiable(Exception):
    """An uncertain create carries nothing to search for: a person must check Salesforce and decide."""


class Matcher:
    """Finds the record an uncertain create may have made (one query per item).

    Which fields a query may name comes from the org's describe cache (salesforce.describe),
    described now when it has none fresh; read once per object for the matcher's life.
    """

    def __init__(self, gateway: SalesforceGateway, database: Database) -> None:
        self.gateway = gateway
        self.database = database
        self._filterable: dict[str, dict[str, bool]] = {}

    def _can_filter(self, object_name: str, field_name: str) -> bool:
        if object_name not in self._filterable:
            with self.database.transaction() as session:
                fields = describes.fields_now(session, self.gateway, object_name, needs="filterable")
            self._filterable[object_name] = {
                name: bool(facts.get("filterable")) and facts.get("type") in _MATCHABLE_TYPES
                for name, facts in fields.items()
            }
        return self._filterable[object_name].get(field_name, False)

    def candidates(self, object_name: str, body: dict[str, Any], marker: str | None, since: datetime) -> list[str]:
        """Ids of records this create may already have made, oldest first (none: safe to send).

        The caller drops the ones other written items already claim.
        """
        if not _FIELD_NAME.match(object_name):
            raise ValueError(f"{object_name!r} is not an object name")
        conditions = []
        values: dict[str, Any] = {"since": since - CLOCK_SKEW}
        if marker is not None:
            conditions.append(f"{marker} = {{marker}}")
            values["marker"] = body[marker]
        else:
            for n, (name, value) in enumerate(sorted(body.items())):
                if not _FIELD_NAME.match(name) or isinstance(value, dict | list):
                    continue
                if isinstance(value, str) and len(value) > 255:
                    continue
                if self._can_filter(object_name, name):
                    conditions.append(f"{name} = {{v{n}}}")
                    values[f"v{n}"] = value
        if not conditions:
            raise Unverifiable(f"no field of this {object_name} create can be searched for in Salesforce")
        conditions.append("CreatedDate >= {since}")
        soql = self.gateway.soql(
            f"SELECT Id FROM {object_name} WHERE {' AND '.join(conditions)} ORDER BY CreatedDate, Id LIMIT 50",
            **values)
        return [str(record["Id"]) for record in self.gateway.query(soql)]
