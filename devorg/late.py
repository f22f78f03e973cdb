"""Late commits: a transaction that begins now and commits later, stamped with its start.

Salesforce stamps a record when its transaction begins, but the record becomes visible only when
the transaction commits. A long transaction (a batch job, a slow trigger) therefore makes records
appear with a `SystemModstamp` earlier than records other transactions committed meanwhile. While
such a transaction is open, `sobjects/X/updated` and `/deleted` keep `latestDateCovered` at or below
its start ("the start time of that long-running transaction until it completes", SOAP API guide,
GetUpdatedResult): that is the point a replicating client may safely move its watermark to.

    tx = org.begin_late_commit()          # stamped with the org's time now
    lead = tx.insert("Lead", LastName="遅", Company="B")   # invisible until commit
    tx.update("Contact", cid, Phone="03-0000-0000")
    tx.commit()                           # everything appears at once, with the earlier stamp
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from devorg.schema import to_json

if TYPE_CHECKING:
    from devorg.org import DevOrg

_numbers = itertools.count(1)
_numbers_lock = threading.Lock()


class LateCommit:
    """An open transaction of the dev org: changes queue up and land together on `commit()`."""

    def __init__(self, org: DevOrg) -> None:
        self.org = org
        store = org.store
        with store.lock:
            with _numbers_lock:
                self.number = next(_numbers)
            self.stamp = store.now()
            store.open_stamps[self.number] = self.stamp
        self._steps: list[Callable[[], Any]] = []
        self.inserted: list[str] = []
        self.open = True

    def _queue(self, step: Callable[[], Any]) -> None:
        if not self.open:
            raise RuntimeError("this transaction is already committed or rolled back")
        self._steps.append(step)

    def insert(self, object_name: str, **fields: Any) -> int:
        """Queue a create; returns its position in `inserted` (the id is known only after commit)."""
        obj = self.org.schema.objects[object_name]
        values = {name: to_json(value) for name, value in fields.items()}
        self._queue(lambda: self.inserted.append(
            self.org.store.create(obj, values, self.org.person_user_id, trusted=True)["Id"]))
        return len(self._steps) - 1

    def update(self, object_name: str, record_id: str, **fields: Any) -> None:
        """Queue a change of fields of a record."""
        obj = self.org.schema.objects[object_name]
        values = {name: to_json(value) for name, value in fields.items()}
        self._queue(lambda: self.org.store.update(obj, record_id, values, self.org.person_user_id, trusted=True))

    def delete(self, object_name: str, record_id: str) -> None:
        """Queue a move of a record to the recycle bin."""
        obj = self.org.schema.objects[object_name]
        self._queue(lambda: self.org.store.delete(obj, record_id, self.org.person_user_id))

    def commit(self) -> list[str]:
        """Apply every queued change at once with the transaction's start stamp; return the created ids."""
        store = self.org.store
        with store.lock:
            try:
                store.commit_stamp = self.stamp
                with store.transaction():
                    for step in self._steps:
                        step()
            finally:
                store.commit_stamp = None
                store.open_stamps.pop(self.number, None)
                self.open = False
        return list(self.inserted)

    def rollback(self) -> None:
        """Drop the queued changes."""
        with self.org.store.lock:
            self.org.store.open_stamps.pop(self.number, None)
        self.open = False
