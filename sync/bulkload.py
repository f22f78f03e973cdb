"""Records of a Bulk API 2.0 query as the REST API would have given them.

Bulk API 2.0 answers CSV: every value a string and null an empty one. A first load through it
must leave the mirror exactly as a REST load would, or the next REST cycle would report every
record as changed. So values go back to REST's JSON types by the describe's field types: numbers
as numbers, booleans as booleans, "" as null; dates and datetimes stay text (`sync.values`
brings datetimes to the REST form). A parent field (`Account.Name`) becomes the nested
relationship REST sends — `{"Account": {"Name": …}}`, or `{"Account": None}` when the lookup is
empty — so `sync.values.flatten` stores both the same way.
"""

from __future__ import annotations

from typing import Any

from sync.describe import PARENT_FIELDS
from sync.values import rest_value

BATCH_SIZE = 2000  # records per mirror transaction, as a REST page holds at most


def rest_record(object_name: str, field_types: dict[str, str], row: dict[str, str]) -> dict[str, Any]:
    """One CSV row (column name → text) as the record a REST query would have returned."""
    record: dict[str, Any] = {name: rest_value(field_types.get(name), text)
                              for name, text in row.items() if "." not in name}
    for lookup, parent in PARENT_FIELDS.get(object_name, ()):
        if parent not in row:
            continue
        relationship, _, field_name = parent.partition(".")
        if not row.get(lookup):
            record[relationship] = None
        else:
            nested = record.get(relationship)
            if not isinstance(nested, dict):
                nested = record[relationship] = {}
            nested[field_name] = rest_value(None, row[parent])
    return record
