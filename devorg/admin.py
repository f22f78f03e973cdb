"""tsunagi's side of the dev org admin page: a small client of the org's private admin API, and the
conversion between what a person types in a form and the field values the org takes."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import requests

from config.settings import Settings, devorg_connection


class OrgUnavailable(Exception):
    """The dev org is not running (no connection.json, or nothing answers at its URL)."""


class OrgRefused(Exception):
    """The dev org refused a change; `code` and `message` are what it said (Salesforce's error)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


# Segments of an admin API path: object names, record ids and the API's own words, never "..",
# "%2E%2E" or a slash smuggled in from a URL (requests would normalize "records/../faults").
SAFE_PATH = re.compile(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*")


class OrgAdmin:
    """Calls to `/devorg/api/...` of the org described by connection.json."""

    def __init__(self, connection: dict[str, str], timeout: float = 10.0) -> None:
        self.base = connection["instance_url"].rstrip("/") + "/devorg/api"
        self.key = connection.get("admin_key", "")
        self.ca_bundle = connection.get("ca_bundle") or True
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> OrgAdmin:
        """The admin client of the dev org this service uses; OrgUnavailable when there is none."""
        connection = devorg_connection(settings)
        if not connection or not connection.get("admin_key"):
            raise OrgUnavailable("no dev org connection.json")
        return cls(connection)

    def call(self, method: str, path: str, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        """One admin API call; OrgRefused on an error answer or a path that is not plain segments,
        OrgUnavailable when nothing answers."""
        if not SAFE_PATH.fullmatch(path):
            raise OrgRefused("NOT_FOUND", "not a dev org admin path")
        try:
            response = requests.request(method, f"{self.base}/{path}", json=json, params=params,
                                        headers={"X-Devorg-Admin-Key": self.key}, verify=self.ca_bundle,
                                        timeout=self.timeout)
        except requests.RequestException as exc:
            raise OrgUnavailable(str(exc)) from exc
        body = response.json() if response.content else {}
        if response.status_code >= 400:
            if response.status_code == 401:
                raise OrgUnavailable("the dev org did not accept our admin key")
            raise OrgRefused(str(body.get("error", response.status_code)), str(body.get("message", "")))
        return body


def display_value(field: dict[str, Any], value: Any, tz: ZoneInfo) -> str:
    """A stored field value as a form input shows it (datetimes in local time)."""
    if value is None:
        return ""
    if field["type"] == "datetime":
        moment = datetime.fromisoformat(str(value))
        return moment.astimezone(tz).strftime("%Y-%m-%dT%H:%M")
    if field["type"] == "boolean":
        return "true" if value else ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def changed_values(fields: list[dict[str, Any]], form: Any, current: dict[str, Any] | None,
                   tz: ZoneInfo) -> dict[str, Any]:
    """The writable fields whose submitted value differs from `current` (all given ones when creating)."""
    out: dict[str, Any] = {}
    for field in fields:
        writable = field["updateable"] if current is not None else field["createable"]
        if not writable or field["type"] == "id":
            continue
        name = field["name"]
        if field["type"] != "boolean" and name not in form:
            continue  # not on the submitted form: leave it alone (unchecked checkboxes are never sent)
        if field["type"] == "boolean":
            submitted: Any = form.get(name) == "true"
            before: Any = bool(current.get(name)) if current is not None else None
        else:
            submitted = (form.get(name) or "").strip()
            before = display_value(field, current.get(name), tz) if current is not None else ""
            if submitted == before:
                continue
            if submitted and field["type"] == "datetime":
                submitted = datetime.fromisoformat(submitted).replace(tzinfo=tz).isoformat()
            submitted = submitted or None
        if current is None and submitted in (None, False) and field["type"] != "boolean":
            continue
        if submitted != before:
            out[name] = submitted
    return out
