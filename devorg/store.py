"""The dev org's records: in memory for speed, written through to the org's own SQLite file.

Records are plain dicts of stored values (see devorg.schema), replaced — never mutated — on every
change, so a query cursor holding a list of them is a consistent snapshot. Every change runs in
`transaction()`: an undo journal rolls memory back together with SQLite when any write in it fails
(composite allOrNone), and change listeners (Outbound Messages) hear about it only after commit.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from devorg import ids
from devorg.errors import ApiError
from devorg.schema import FieldDef, ObjectDef, Schema, coerce, from_json, to_json

Record = dict[str, Any]
Listener = Callable[[ObjectDef, "Record | None", Record], None]
_SYSTEM = {"Id", "IsDeleted", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp"}


def now_stamp() -> datetime:
    """The current UTC time in whole seconds, as Salesforce stores datetimes.

    Salesforce renders datetimes with milliseconds (`…:56.000+0000`) but stores and compares them
    in whole seconds, so many records share one SystemModstamp and a SOQL literal (which has whole
    seconds) compares equal to them. Sync cursors depend on exactly that.
    """
    return datetime.now(UTC).replace(microsecond=0)


class Store:
    """Every record of the org, with validation, system fields, recycle bin and persistence."""

    def __init__(self, path: Path, schema: Schema) -> None:
        self.schema = schema
        self.lock = threading.RLock()
        self.by_object: dict[str, dict[str, Record]] = {name: {} for name in schema.objects}
        self.by_id: dict[str, Record] = {}
        # Each record as REST renders it, kept beside it: query pages are served from these.
        self.views: dict[str, dict[str, Any]] = {}
        self.deleted_at: dict[str, datetime] = {}
        self.unique: dict[tuple[str, str], dict[str, str]] = {}
        self.listeners: list[Listener] = []
        self.clock: datetime | None = None
        # The org's own clock runs this far from the host's (ahead or behind): real orgs and the
        # machines that call them never agree exactly, and sync must not assume they do.
        self.clock_offset = timedelta(0)
        # Stamps of transactions begun but not committed yet (devorg.late.LateCommit): their
        # records appear later with these earlier stamps; `updated`/`deleted` stay below them.
        self.open_stamps: dict[int, datetime] = {}
        # While a late transaction commits, its records carry the stamp it began with.
        self.commit_stamp: datetime | None = None
        self.purged_at: datetime | None = None  # the last physical delete (recycle bin emptied)
        self.counter = 0
        self._journal: list[tuple[str, Record | None, datetime | None]] | None = None
        self._pending: list[tuple[ObjectDef, Record | None, Record]] = []
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=OFF")
        self._conn.execute("CREATE TABLE IF NOT EXISTS records (id TEXT PRIMARY KEY, object TEXT NOT NULL, "
                           "data TEXT NOT NULL, deleted_at TEXT)")
        self._conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self._load()

    # --- persistence ----------------------------------------------------------------------
    def _load(self) -> None:
        for key, value in self._conn.execute("SELECT key, value FROM meta WHERE key IN ('counter', 'purged_at')"):
            if key == "counter":
                self.counter = int(value)
            else:
                self.purged_at = datetime.fromisoformat(value)
        for record_id, object_name, data, deleted_at in self._conn.execute(
                "SELECT id, object, data, deleted_at FROM records ORDER BY id"):
            obj = self.schema.objects.get(object_name)
            if obj is None:
                continue
            raw = json.loads(data)
            view = {name: value for name, value in raw.items() if name in obj.fields}
            record = {name: from_json(obj.fields[name], value) for name, value in view.items()}
            self._put(obj, record, view)
            if deleted_at:
                self.deleted_at[record_id] = datetime.fromisoformat(deleted_at)

    def meta_get(self, key: str) -> str | None:
        """A value kept in the org's meta table (org id, client secret…), or None."""
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def meta_set(self, key: str, value: str) -> None:
        """Keep `value` under `key` in the meta table."""
        with self.lock:
            self._conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def _persist(self, record: Record, view: dict[str, Any]) -> None:
        data = json.dumps(view, ensure_ascii=False)
        deleted = self.deleted_at.get(record["Id"])
        obj = self.schema.object_of_id(record["Id"])
        self._conn.execute("INSERT OR REPLACE INTO records (id, object, data, deleted_at) VALUES (?, ?, ?, ?)",
                           (record["Id"], obj.name if obj else "", data, deleted.isoformat() if deleted else None))

    def close(self) -> None:
        """Close the SQLite connection."""
        self._conn.close()

    # --- in-memory indexes ----------------------------------------------------------------
    def _put(self, obj: ObjectDef, record: Record, view: dict[str, Any] | None = None) -> None:
        old = self.by_id.get(record["Id"])
        self._unindex(obj, old)
        self.by_object[obj.name][record["Id"]] = record
        self.by_id[record["Id"]] = record
        self.views[record["Id"]] = view if view is not None else {k: to_json(v) for k, v in record.items()}
        for fdef in obj.fields.values():
            if fdef.unique and record.get(fdef.name) is not None:
                self.unique.setdefault((obj.name, fdef.name), {})[str(record[fdef.name]).lower()] = record["Id"]

    def _unindex(self, obj: ObjectDef, record: Record | None) -> None:
        if record is None:
            return
        for fdef in obj.fields.values():
            if fdef.unique and record.get(fdef.name) is not None:
                self.unique.get((obj.name, fdef.name), {}).pop(str(record[fdef.name]).lower(), None)

    def _remove(self, obj: ObjectDef, record_id: str) -> None:
        self._unindex(obj, self.by_id.get(record_id))
        self.by_object[obj.name].pop(record_id, None)
        self.by_id.pop(record_id, None)
        self.views.pop(record_id, None)
        self.deleted_at.pop(record_id, None)

    # --- transactions ---------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All changes inside commit together or not at all (nested calls join the outer one)."""
        with self.lock:
            if self._journal is not None:
                yield
                return
            self._journal = []
            self._pending = []
            self._conn.execute("BEGIN")
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK")
                self._undo(self._journal)
                self._journal = None
                self._pending = []
                self.counter = int(self.meta_get("counter") or 0)
                raise
            self._conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('counter', ?)", (str(self.counter),))
            self._conn.execute("COMMIT")
            self._journal = None
            pending, self._pending = self._pending, []
        for obj, old, new in pending:
            for listener in list(self.listeners):
                listener(obj, old, new)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested all-or-nothing step inside `transaction()` (one record of a partial-success batch)."""
        assert self._journal is not None
        mark = len(self._journal)
        pending_mark = len(self._pending)
        counter = self.counter
        self._conn.execute("SAVEPOINT step")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK TO step")
            self._conn.execute("RELEASE step")
            self._undo(self._journal[mark:])
            del self._journal[mark:]
            del self._pending[pending_mark:]
            self.counter = counter
            raise
        self._conn.execute("RELEASE step")

    def _undo(self, entries: list[tuple[str, Record | None, datetime | None]]) -> None:
        """Put the records of journal `entries` back as they were, newest first (the SQL is rolled back)."""
        for record_id, old, old_deleted in reversed(entries):
            obj = self.schema.object_of_id(record_id)
            assert obj is not None
            if old is None:
                self._remove(obj, record_id)
            else:
                self._put(obj, old)
                if old_deleted is None:
                    self.deleted_at.pop(record_id, None)
                else:
                    self.deleted_at[record_id] = old_deleted

    def _write(self, obj: ObjectDef, old: Record | None, new: Record, deleted_at: datetime | None) -> None:
        assert self._journal is not None, "writes happen inside transaction()"
        self._journal.append((new["Id"], old, self.deleted_at.get(new["Id"])))
        view = {k: to_json(v) for k, v in new.items()}
        self._put(obj, new, view)
        if deleted_at is None:
            self.deleted_at.pop(new["Id"], None)
        else:
            self.deleted_at[new["Id"]] = deleted_at
        self._persist(new, view)
        self._pending.append((obj, old, new))

    # --- reading --------------------------------------------------------------------------
    def now(self) -> datetime:
        """The org's clock: the time set by `set_clock`, else the host's time plus `clock_offset` (whole seconds)."""
        return self.clock or now_stamp() + self.clock_offset

    def stamp(self) -> datetime:
        """The SystemModstamp of a change made now: the org's time, or a late transaction's start."""
        return self.commit_stamp or self.now()

    def safe_point(self, end: datetime) -> datetime:
        """`latestDateCovered` of a window ending at `end`: never past the org's now or an open transaction."""
        limit = min([end, self.now(), *self.open_stamps.values()])
        return limit.replace(second=0, microsecond=0)

    def get(self, record_id: str | None) -> Record | None:
        """The record with this id (15 or 18 characters, deleted or not), or None."""
        if not record_id:
            return None
        record = self.by_id.get(record_id)
        if record is None and len(record_id) == 15:
            record = self.by_id.get(ids.to18(record_id))
        return record

    def rows(self, obj: ObjectDef, include_deleted: bool = False) -> list[Record]:
        """Every record of `obj` in id order (deleted ones only when asked)."""
        records = self.by_object[obj.name].values()
        if include_deleted:
            return list(records)
        return [r for r in records if not r["IsDeleted"]]

    def find_unique(self, obj: ObjectDef, fdef: FieldDef, value: Any) -> str | None:
        """The id of the record of `obj` whose unique field `fdef` equals `value`, or None."""
        return self.unique.get((obj.name, fdef.name), {}).get(str(value).lower())

    # --- writing --------------------------------------------------------------------------
    def _check_fields(self, obj: ObjectDef, values: dict[str, Any], creating: bool, trusted: bool) -> dict[str, Any]:
        """Coerce input values to stored ones; raise INVALID_FIELD / not writable / type errors."""
        clean: dict[str, Any] = {}
        unwritable: list[str] = []
        for name, raw in values.items():
            if name == "attributes":
                continue
            fdef = obj.field(name)
            if fdef is None:
                raise ApiError(400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {obj.name}")
            if fdef.name == "Id":
                continue
            writable = fdef.createable if creating else fdef.updateable
            if not writable and not (trusted and fdef.name not in _SYSTEM and not fdef.compound):
                unwritable.append(fdef.name)
                continue
            clean[fdef.name] = coerce(obj, fdef, raw)
        if unwritable:
            raise ApiError(400, "INVALID_FIELD_FOR_INSERT_UPDATE",
                           f"Unable to create/update fields: {', '.join(unwritable)}. Please check the security "
                           "settings of this field and verify that it is read/write for your profile or "
                           "permission set.", unwritable)
        return clean

    def _complete(self, obj: ObjectDef, record: Record, record_id: str | None) -> None:
        """Derived fields, required fields, references and uniqueness of a record about to be written."""
        if obj.name == "Account" and self.schema.person_accounts and record.get("LastName"):
            # No record types here: an Account with a LastName is a person account, named as a Contact.
            record["IsPersonAccount"] = True
            record["Name"] = " ".join(p for p in (record.get("LastName"), record.get("FirstName")) if p)
        if "Name" in obj.fields and obj.fields["Name"].compound:
            parts = [record.get("LastName"), record.get("FirstName")]
            record["Name"] = " ".join(p for p in parts if p)
        if obj.name == "Task":
            record["IsClosed"] = record.get("Status") == "Completed"
        if obj.name == "CampaignMember":
            record["HasResponded"] = record.get("Status") == "Responded"
        if obj.stages:
            _derive_from_stage(obj, record)
        missing = [f.name for f in obj.fields.values()
                   if not f.nillable and f.createable and f.type != "boolean" and record.get(f.name) is None]
        if missing:
            raise ApiError(400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]",
                           missing)
        for fdef in obj.fields.values():
            value = record.get(fdef.name)
            if value is None:
                continue
            if fdef.type == "reference" and fdef.name not in ("CreatedById", "LastModifiedById"):
                target = self.get(value)
                target_obj = self.schema.object_of_id(value)
                if target_obj is None or target_obj.name not in fdef.reference_to:
                    raise ApiError(400, "FIELD_INTEGRITY_EXCEPTION",
                                   f"{fdef.label_en}: id value of incorrect type: {value}", [fdef.name])
                if target is None or target["IsDeleted"]:
                    raise ApiError(400, "INVALID_CROSS_REFERENCE_KEY",
                                   f"invalid cross reference id: {value}", [fdef.name])
            if fdef.unique:
                other = self.find_unique(obj, fdef, value)
                if other is not None and other != record_id:
                    raise ApiError(400, "DUPLICATE_VALUE", f"duplicate value found: {fdef.name} duplicates value "
                                   f"on record with id: {other}", [fdef.name])
        if obj.name == "CampaignMember" and record_id is None:
            if bool(record.get("LeadId")) == bool(record.get("ContactId")):
                raise ApiError(400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [LeadId or ContactId]",
                               ["LeadId", "ContactId"])
            for member in self.by_object["CampaignMember"].values():
                if (not member["IsDeleted"] and member["CampaignId"] == record["CampaignId"]
                        and member.get("LeadId") == record.get("LeadId")
                        and member.get("ContactId") == record.get("ContactId")):
                    raise ApiError(400, "DUPLICATE_VALUE", "Already a campaign member.")

    def create(self, obj: ObjectDef, values: dict[str, Any], user_id: str | None, trusted: bool = False) -> Record:
        """Insert a record with system fields and defaults; return it."""
        with self.transaction():
            clean = self._check_fields(obj, values, creating=True, trusted=trusted)
            stamp = self.stamp()
            self.counter += 1
            record_id = ids.make_id(obj.prefix, self.counter)
            user_id = user_id or record_id  # the org's first user creates itself
            record: Record = {}
            for fdef in obj.fields.values():
                if fdef.default is not None and fdef.name not in clean:
                    record[fdef.name] = user_id if fdef.default == "$user" else fdef.default
                else:
                    record[fdef.name] = None
            record.update(clean)
            record["Id"] = record_id
            record.update(IsDeleted=False, CreatedDate=stamp, CreatedById=user_id, LastModifiedDate=stamp,
                          LastModifiedById=user_id, SystemModstamp=stamp)
            self._complete(obj, record, None)
            self._write(obj, None, record, None)
            if record.get("IsPersonAccount") and obj.name == "Account":
                record = self._person_contact(record, user_id)
            return record

    def live(self, obj: ObjectDef, record_id: str) -> Record:
        """The not-deleted record of `obj` with this id; NOT_FOUND / ENTITY_IS_DELETED otherwise."""
        normalized = ids.normalize(record_id)
        record = self.get(normalized) if normalized else None
        if record is None or self.schema.object_of_id(record["Id"]) is not obj:
            if normalized is None:
                raise ApiError(404, "NOT_FOUND", "Provided external ID field does not exist or is not accessible: "
                               f"{record_id}")
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        if record["IsDeleted"]:
            raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted", [])
        return record

    def update(self, obj: ObjectDef, record_id: str, values: dict[str, Any], user_id: str | None,
               trusted: bool = False) -> Record:
        """Change fields of a live record; bump LastModifiedDate and SystemModstamp; return it."""
        with self.transaction():
            old = self.live(obj, record_id)
            clean = self._check_fields(obj, values, creating=False, trusted=trusted)
            stamp = self.stamp()
            record = {**old, **clean, "LastModifiedDate": stamp, "LastModifiedById": user_id, "SystemModstamp": stamp}
            if obj.stages and clean.get("StageName", old.get("StageName")) != old.get("StageName") \
                    and "Probability" not in clean:
                record["Probability"] = None  # a new stage brings its default probability
            self._complete(obj, record, old["Id"])
            self._write(obj, old, record, None)
            if record.get("IsPersonAccount") and obj.name == "Account":
                record = self._person_contact(record, user_id)
            return record

    def _person_contact(self, account: Record, user_id: str | None) -> Record:
        """Create or refresh a person account's hidden Contact (PersonContactId), as Salesforce keeps
        one behind every person account: activities and campaign members name the person by it."""
        contact_obj = self.schema.objects["Contact"]
        values = {"LastName": account.get("LastName"), "FirstName": account.get("FirstName"),
                  "AccountId": account["Id"], "IsPersonAccount": True, "OwnerId": account.get("OwnerId")}
        values.update({contact: account.get(person) for person, contact in _PERSON_FIELDS.items()
                       if person in self.schema.objects["Account"].fields and contact in contact_obj.fields})
        contact_id = account.get("PersonContactId")
        if contact_id and self.get(contact_id):
            current = self.get(contact_id) or {}
            if any(current.get(k) != v for k, v in values.items()):
                self.update(contact_obj, contact_id, values, user_id, trusted=True)
            return account
        contact = self.create(contact_obj, values, user_id, trusted=True)
        linked = {**account, "PersonContactId": contact["Id"]}
        self._write(self.schema.objects["Account"], account, linked, None)
        return linked

    def delete(self, obj: ObjectDef, record_id: str, user_id: str | None) -> Record:
        """Move a live record to the recycle bin (IsDeleted = true, stamps bumped)."""
        with self.transaction():
            old = self.live(obj, record_id)
            stamp = self.stamp()
            record = {**old, "IsDeleted": True, "LastModifiedDate": stamp, "LastModifiedById": user_id,
                      "SystemModstamp": stamp}
            self._write(obj, old, record, stamp)
            return record

    def undelete(self, obj: ObjectDef, record_id: str, user_id: str | None) -> Record:
        """Restore a record from the recycle bin."""
        with self.transaction():
            normalized = ids.normalize(record_id)
            old = self.get(normalized) if normalized else None
            if old is None or self.schema.object_of_id(old["Id"]) is not obj:
                raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
            if not old["IsDeleted"]:
                raise ApiError(400, "UNDELETE_FAILED", "Entity is not in the recycle bin")
            stamp = self.stamp()
            record = {**old, "IsDeleted": False, "LastModifiedDate": stamp, "LastModifiedById": user_id,
                      "SystemModstamp": stamp}
            self._complete(obj, record, old["Id"])
            self._write(obj, old, record, None)
            return record

    def empty_recycle_bin(self, before: datetime | None = None) -> int:
        """Physically remove deleted records (those deleted before `before`, default all); return how many.

        Afterwards `deleted` reports this moment as earliestDateAvailable: a client whose window
        starts earlier has missed deletes and must reconcile ids.
        """
        with self.transaction():
            gone = [rid for rid, when in self.deleted_at.items() if before is None or when < before]
            for record_id in gone:
                obj = self.schema.object_of_id(record_id)
                assert obj is not None
                self._remove(obj, record_id)
                self._conn.execute("DELETE FROM records WHERE id = ?", (record_id,))
            if gone:
                self.purged_at = self.now()
                self._conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('purged_at', ?)",
                                   (self.purged_at.isoformat(),))
        return len(gone)

    def purge(self, keep: set[str] | None = None) -> None:
        """Remove every record except the ids in `keep` (reset), without firing listeners."""
        keep = keep or set()
        with self.lock:
            for obj in self.schema.objects.values():
                for record_id in list(self.by_object[obj.name]):
                    if record_id not in keep:
                        self._remove(obj, record_id)
            placeholders = ",".join("?" for _ in keep) or "''"
            self._conn.execute(f"DELETE FROM records WHERE id NOT IN ({placeholders})", tuple(keep))
            self._conn.execute("DELETE FROM meta WHERE key = 'purged_at'")
            self.purged_at = None


# A person account's fields and the hidden Contact's fields that hold the same value.
_PERSON_FIELDS = {"PersonEmail": "Email", "PersonMobilePhone": "MobilePhone", "PersonHomePhone": "HomePhone",
                  "PersonHasOptedOutOfEmail": "HasOptedOutOfEmail", "PersonBirthdate": "Birthdate",
                  "PersonMailingStreet": "MailingStreet", "PersonMailingCity": "MailingCity",
                  "PersonMailingState": "MailingState", "PersonMailingPostalCode": "MailingPostalCode",
                  "Phone": "Phone"}


def _derive_from_stage(obj: ObjectDef, record: Record) -> None:
    """An opportunity's IsClosed, IsWon, forecast category and fiscal period, as its stage and close
    date make them in Salesforce; Probability takes the stage's default when none was given."""
    stage = obj.stages.get(record.get("StageName") or "", {})
    record["IsClosed"] = bool(stage.get("closed"))
    record["IsWon"] = bool(stage.get("won"))
    if stage.get("forecast"):
        record["ForecastCategoryName"] = stage["forecast"]
    if record.get("Probability") is None and stage.get("probability") is not None:
        record["Probability"] = float(stage["probability"])
    amount, probability = record.get("Amount"), record.get("Probability")
    record["ExpectedRevenue"] = (None if amount is None or probability is None
                                 else round(float(amount) * float(probability) / 100, 2))
    close = record.get("CloseDate")
    if close is not None and hasattr(close, "month"):
        record["FiscalYear"], record["FiscalQuarter"] = close.year, (close.month - 1) // 3 + 1
