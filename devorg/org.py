"""`DevOrg`: one local Salesforce-compatible org — its data, certificates, HTTPS server and the
Python handles tests and demos use to act on it.

    org = DevOrg(Path("instance/devorg")).start(port=0)
    org.instance_url, org.ca_bundle, org.org_id, org.client_id, org.client_secret
    org.access_token()                      # a fresh valid token for the integration user
    org.app_settings()                      # Settings overrides connecting tsunagi to this org
    org.insert("Contact", LastName="山田")  # as a person in Salesforce: no API call counted,
    org.update("Contact", cid, Absent__c=True)  # stamps bumped, Outbound Messages fired
    org.delete("Contact", cid); org.undelete("Contact", cid)
    org.records("Contact", include_deleted=False)  # the org's truth, as REST renders it
    org.inject_fault(r"/query", "503", count=2)    # kinds: 503, invalid_session, limit_exceeded, slow
    org.expire_tokens(); org.api_calls; org.set_api_limit(100)
    org.set_bulk_api(enabled=False) / (delay_seconds=2) / (fail_with="…"); org.bulk_jobs()
    org.set_clock(datetime(...)) / org.set_clock(None)  # stamp records with a chosen time
    org.set_clock_offset(timedelta(minutes=-45))  # the org's clock runs 45 minutes behind the host's
    org.set_short_pages(True)                # query pages hold a random number of records ≤ batch size
    tx = org.begin_late_commit(); tx.insert("Lead", ...); tx.commit()  # earlier stamp, later commit
    org.add_outbound_rule("Contact", "Absent__c = true", ["Id", "Email"], "http://127.0.0.1:1234/hook")
    org.outbound_log(); org.wait_outbound_idle(timeout=5)
    org.reset()                              # empty org: only the integration and person users
    org.stop()
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from config.files import private_dir, touch_private, write_private
from devorg import ids
from devorg.auth import Auth
from devorg.client import VerifiedSession, salesforce_client
from devorg.definition import load_definition
from devorg.errors import ApiError
from devorg.late import LateCommit
from devorg.limits import ApiBudget, FaultPlan
from devorg.outbound import Outbound
from devorg.rest import RestApi
from devorg.schema import ObjectDef, Schema, to_json
from devorg.server import ServerThread
from devorg.store import Store
from devorg.tls import ensure_certificates

PERSON_USER = {"Username": "person@tsunagi.dev", "LastName": "管理", "FirstName": "花子",
               "Email": "person@tsunagi.dev", "Alias": "hkanri"}


class DevOrg:
    """A local org: schema, records, auth, limits, faults, outbound messages and its HTTPS server."""

    def __init__(self, data_dir: Path | str, definition: Path | str | None = None) -> None:
        self.data_dir = Path(data_dir)
        private_dir(self.data_dir)  # records, private keys and the admin key: owner only
        self.definition = load_definition(definition)
        org = self.definition["org"]
        self.name = str(org.get("name", "devorg"))
        self.tz = ZoneInfo(str(org.get("timezone", "Asia/Tokyo")))
        self.language = str(org.get("language", "ja"))
        self.password = str(org.get("password", "devorg-password"))
        self.schema = Schema.load(self.definition["custom_fields"], self.definition["objects"],
                                  person_accounts=bool(org.get("person_accounts", False)))
        self.certificates = ensure_certificates(self.data_dir)
        touch_private(self.data_dir / "devorg.sqlite3")
        self.store = Store(self.data_dir / "devorg.sqlite3", self.schema)
        self.org_id = self._meta("org_id", lambda: ids.make_id(ids.ORG_PREFIX, secrets.randbelow(62 ** 9)))
        self.client_id = self._meta("client_id", lambda: "3MVG9devorg." + secrets.token_urlsafe(48))
        self.client_secret = self._meta("client_secret", lambda: secrets.token_hex(32).upper())
        self.admin_key = self._meta("admin_key", lambda: secrets.token_urlsafe(32))
        self.auth = Auth(self.org_id, self.client_id, self.client_secret, self.certificates.jwt_cert,
                         session_seconds=int(org.get("session_seconds", 7200)))
        self.budget = ApiBudget(int(org.get("daily_api_requests", 100_000)))
        self.faults = FaultPlan()
        self.rest = RestApi(self.schema, self.store, self.tz, self.limits)
        self.short_pages_default = bool(org.get("short_pages", False))
        self.rest.short_pages = self.short_pages_default
        self.store.clock_offset = timedelta(seconds=int(org.get("clock_offset_seconds", 0)))
        self.clock_offset_default = self.store.clock_offset
        self.integration_user_id = self._ensure_user("integration_user_id", dict(org.get("integration_user") or {}))
        self.person_user_id = self._ensure_user("person_user_id", PERSON_USER)
        self.outbound = Outbound(self)
        for rule in self.definition["outbound_messages"]:
            self.add_outbound_rule(rule["object"], rule["criteria"], rule["fields"], rule["endpoint_url"],
                                   name=rule.get("name"), every_edit=bool(rule.get("every_edit")))
        self._server: ServerThread | None = None
        self.host = "127.0.0.1"
        self.port = 0

    def _meta(self, key: str, make: Any) -> str:
        value = self.store.meta_get(key)
        if value is None:
            value = make()
            self.store.meta_set(key, value)
        return value

    def _ensure_user(self, key: str, fields: dict[str, Any]) -> str:
        existing = self.store.meta_get(key)
        if existing and self.store.get(existing):
            return existing
        fields = {"Username": "integration@tsunagi.dev", "LastName": "連携", "Email": "integration@tsunagi.dev",
                  "Alias": "integ", **fields}
        user_obj = self.schema.objects["User"]
        found = self.store.find_unique(user_obj, user_obj.fields["Username"], fields["Username"])
        record_id = found or self.store.create(user_obj, fields, None, trusted=True)["Id"]
        self.store.meta_set(key, record_id)
        return record_id

    # --- serving --------------------------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0, quiet: bool = True) -> DevOrg:
        """Serve HTTPS on host:port (0 = a free port) in a background thread; start the outbound sender."""
        self.host = host
        self._server = ServerThread(self, host, port, quiet=quiet)
        self.port = self._server.port
        self._server.start()
        self.outbound.start()
        return self

    def stop(self) -> None:
        """Stop the server and the outbound sender."""
        self.outbound.stop()
        if self._server is not None:
            self._server.stop()
            self._server = None

    def close(self) -> None:
        """Stop serving and close the data file."""
        self.stop()
        self.store.close()

    @property
    def instance_url(self) -> str:
        """https://127.0.0.1:<port>, the org's My Domain URL (also its OAuth login URL)."""
        host = "localhost" if self.host in ("0.0.0.0", "") else self.host  # noqa: S104 - only naming it
        return f"https://{host}:{self.port}"

    @property
    def login_url(self) -> str:
        """Where OAuth token requests go: the org's own URL."""
        return self.instance_url

    @property
    def ca_bundle(self) -> str:
        """Path of the CA certificate that verifies the org's HTTPS certificate."""
        return str(self.certificates.ca)

    @property
    def jwt_private_key(self) -> str:
        """Path of the private key whose certificate the Connected App trusts for JWT bearer logins."""
        return str(self.certificates.jwt_key)

    @property
    def username(self) -> str:
        """The integration user's username (JWT subject, password flow)."""
        user = self.store.get(self.integration_user_id)
        return str(user["Username"]) if user else ""

    def access_token(self) -> str:
        """A fresh valid access token for the integration user."""
        return self.auth.issue(self.integration_user_id)

    def token_response(self, form: dict[str, str]) -> dict[str, Any]:
        """Answer an OAuth token request (see devorg.auth)."""
        users = {str(u["Username"]).lower(): u for u in self.store.rows(self.schema.objects["User"])}
        return self.auth.token_response(form, self.instance_url, users, self.integration_user_id, self.password)

    def app_settings(self) -> dict[str, Any]:
        """Settings overrides so `make_app(**org.app_settings())` talks to this org (client credentials)."""
        return {
            "salesforce_instance_url": self.instance_url,
            "salesforce_login_url": self.login_url,
            "salesforce_client_id": self.client_id,
            "salesforce_client_secret": self.client_secret,
            "salesforce_ca_bundle": self.ca_bundle,
            "salesforce_org_id": self.org_id,
            "devorg_dir": str(self.data_dir),  # where connection.json is, for the admin pages
        }

    def connection(self) -> dict[str, str]:
        """What `serve` writes to connection.json for the rest of the service to find the org."""
        return {"instance_url": self.instance_url, "login_url": self.login_url, "access_token": self.access_token(),
                "client_id": self.client_id, "client_secret": self.client_secret, "ca_bundle": self.ca_bundle,
                "org_id": self.org_id, "username": self.username, "jwt_private_key": self.jwt_private_key,
                "admin_key": self.admin_key}

    def write_connection(self) -> dict[str, str]:
        """Write connection.json (owner-only) in the data folder and return its content."""
        data = self.connection()
        path = self.data_dir / "connection.json"
        write_private(path, json.dumps(data, indent=2, ensure_ascii=False))
        return data

    # --- limits and faults ----------------------------------------------------------------
    @property
    def api_calls(self) -> int:
        """API calls counted in the last 24 hours."""
        return self.budget.used(self.store.now())

    def limits(self) -> dict[str, Any]:
        """The /limits resource."""
        used = self.api_calls
        return {
            "DailyApiRequests": {"Max": self.budget.maximum, "Remaining": max(self.budget.maximum - used, 0)},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
            "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
            "DataStorageMB": {"Max": 1024, "Remaining": 1024},
        }

    def set_api_limit(self, maximum: int, used: int | None = None) -> None:
        """Set the daily API budget (and optionally how much of it is already spent)."""
        self.budget.maximum = maximum
        if used is not None:
            self.budget.set_used(used, self.store.now())

    def inject_fault(self, path_regex: str, kind: str, count: int = 1, method: str | None = None,
                     delay: float = 1.0) -> None:
        """The next `count` calls whose path matches `path_regex` fail with `kind` (see devorg.limits)."""
        self.faults.add(path_regex, kind, count=count, method=method, delay=delay)

    def clear_faults(self) -> None:
        """Drop every injected fault."""
        self.faults.clear()

    def set_bulk_api(self, enabled: bool = True, delay_seconds: float = 0.0, fail_with: str | None = None) -> None:
        """Bulk API 2.0 query jobs: served or not (404), completing after `delay_seconds`, or failing."""
        bulk = self.rest.bulk
        bulk.enabled, bulk.delay_seconds, bulk.fail_with = enabled, delay_seconds, fail_with

    def bulk_jobs(self) -> list[dict[str, Any]]:
        """Every Bulk API 2.0 query job the org holds: id, operation, object, state, records."""
        with self.rest.bulk._lock:
            jobs = list(self.rest.bulk.jobs.values())
        return [{"id": j.id, "operation": j.operation, "object": j.object, "state": j.state(),
                 "records": len(j.rows)} for j in jobs]

    def expire_tokens(self) -> None:
        """Invalidate every issued access token."""
        self.auth.expire_all()

    def set_clock(self, when: datetime | None) -> None:
        """Stamp every following change with `when` (aware; whole seconds); None returns to real time."""
        if when is not None:
            if when.tzinfo is None:
                raise ValueError("set_clock needs a timezone-aware datetime")
            when = when.astimezone(UTC)
            when = when.replace(microsecond=0)
        self.store.clock = when

    def set_clock_offset(self, offset: timedelta) -> None:
        """Run the org's clock `offset` ahead of the host's (negative: behind); stamps, Date headers,
        `updated`/`deleted` windows and SOQL date literals all follow it."""
        self.store.clock_offset = offset

    def now(self) -> datetime:
        """The org's time now (whole seconds, UTC)."""
        return self.store.now()

    def set_short_pages(self, enabled: bool = True) -> None:
        """Query pages hold a random number of records up to the batch size (Salesforce's batch
        size is a hint, not a promise); off: every page but the last is full."""
        self.rest.short_pages = enabled

    def begin_late_commit(self) -> LateCommit:
        """Open a transaction stamped now that commits later (see devorg.late)."""
        return LateCommit(self)

    # --- records as a person changes them -------------------------------------------------
    def _object(self, object_name: str) -> ObjectDef:
        obj = self.schema.get(object_name)
        if obj is None:
            raise KeyError(f"unknown object {object_name!r}")
        return obj

    def insert(self, object_name: str, **fields: Any) -> str:
        """Create a record as a person in Salesforce would; return its 18-character id."""
        obj = self._object(object_name)
        return str(self.store.create(obj, _input(fields), self.person_user_id, trusted=True)["Id"])

    def update(self, object_name: str, record_id: str, **fields: Any) -> None:
        """Change fields of a record as a person would (bumps SystemModstamp, fires outbound rules)."""
        self.store.update(self._object(object_name), record_id, _input(fields), self.person_user_id, trusted=True)

    def delete(self, object_name: str, record_id: str) -> None:
        """Move a record to the recycle bin as a person would."""
        self.store.delete(self._object(object_name), record_id, self.person_user_id)

    def undelete(self, object_name: str, record_id: str) -> None:
        """Restore a record from the recycle bin."""
        self.store.undelete(self._object(object_name), record_id, self.person_user_id)

    def empty_recycle_bin(self, before: datetime | None = None) -> int:
        """Physically remove deleted records (deleted before `before`, default all); return how many."""
        return self.store.empty_recycle_bin(before)

    def get(self, object_name: str, record_id: str) -> dict[str, Any] | None:
        """One record (deleted ones too) as REST renders its fields, or None."""
        record = self.store.get(ids.normalize(record_id) or "")
        if record is None or self.schema.object_of_id(record["Id"]) is not self._object(object_name):
            return None
        return dict(self.store.views[record["Id"]])

    def records(self, object_name: str, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Every record of an object in id order, fields as REST renders them (no `attributes`)."""
        obj = self._object(object_name)
        with self.store.lock:
            rows = self.store.rows(obj, include_deleted=include_deleted)
        return [dict(self.store.views[r["Id"]]) for r in rows]

    # --- outbound messages ----------------------------------------------------------------
    def add_outbound_rule(self, object_name: str, criteria: str, fields: list[str], endpoint_url: str,
                          name: str | None = None, every_edit: bool = False) -> str:
        """Send an Outbound Message to `endpoint_url` whenever a record comes to meet `criteria`
        (a SOQL condition, e.g. "Absent__c = true"), or with `every_edit` whenever a record meeting it
        is created or edited; return the rule's ActionId."""
        return self.outbound.add_rule(self._object(object_name), criteria, fields, endpoint_url, name, every_edit)

    def outbound_log(self) -> list[dict[str, Any]]:
        """Every delivery attempt so far: endpoint, notification ids, status, acked, error, time."""
        return self.outbound.log()

    def wait_outbound_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no notification awaits delivery; False on timeout."""
        return self.outbound.wait_idle(timeout)

    # --- clients --------------------------------------------------------------------------
    def salesforce(self, version: str = "59.0") -> Any:
        """A simple-salesforce client on this org with a fresh token (its calls are counted)."""
        return salesforce_client(self.instance_url, self.access_token(), self.ca_bundle, version)

    def session(self) -> VerifiedSession:
        """A requests session trusting this org's CA, whatever REQUESTS_CA_BUNDLE says."""
        return VerifiedSession(self.ca_bundle)

    # --- reset ----------------------------------------------------------------------------
    def reset(self) -> None:
        """An empty org again: only the integration and person users; no faults, rules, tokens or clock."""
        self.outbound.reset()
        self.faults.clear()
        self.auth.expire_all()
        self.budget.reset()
        self.store.clock = None
        self.store.clock_offset = self.clock_offset_default
        self.store.open_stamps.clear()
        self.rest.short_pages = self.short_pages_default
        with self.rest._cursor_lock:
            self.rest.cursors.clear()
        self.rest.bulk.reset()
        self.store.purge(keep={self.integration_user_id, self.person_user_id})


def _input(fields: dict[str, Any]) -> dict[str, Any]:
    """Python values (date, datetime, numbers) as the JSON the REST API accepts."""
    return {name: to_json(value) for name, value in fields.items()}



__all__ = ["ApiError", "DevOrg", "load_definition"]

