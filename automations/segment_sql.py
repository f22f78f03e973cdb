"""Segment conditions compiled to SQL over the mirror, meaning exactly what `check_value` means.

Each condition becomes one WHERE clause on the person row (`Field`, `person.Field`) or on a
related row joined through an Id field (`Account.Industry` → the record `AccountId` names):

- eq / ne / in / not_in follow `conditions._equal`: equal values, or equal text when neither side
  is a boolean or null (a number 5 equals '5'); True equals 1 as in Python;
- is_set / is_not_set: anything but missing, null and ''; is_true: JSON true or the text 'true'
  in any case; contains / starts_with on the value as Python's str() writes it ('True');
- gt / gte / lt / lte: as numbers when both sides read as decimal numbers, else as text in code
  point order (ISO dates compare right);
- `campaign` (eq / in / ne / not_in): membership through mirrored CampaignMember rows;
- `days_since_open`: whole days since the last mail open, turned into a range of open times.

Where SQL cannot say the same thing (a list compared with eq, days_since_open against text),
`compile_conditions` returns the condition as *residual*: the caller checks those in Python on
the rows the SQL let through. Python's float() also reads '1_000', full-width digits and 'nan';
SQL reads those as text (Salesforce never sends numbers that way).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, func, not_, or_, select, true
from sqlalchemy.orm import aliased

from activity.models import Activity
from sync import read

COMPUTED = ("campaign", "days_since_open")
# A decimal number as Python's float() reads it from plain ASCII text.
NUMBER_TEXT = r"^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$"


@dataclass
class Compiled:
    """WHERE clauses, outer joins they need, and the conditions left for Python."""

    where: list[ColumnElement[bool]] = field(default_factory=list)
    joins: list[tuple[Any, ColumnElement[bool]]] = field(default_factory=list)
    residual: list[dict[str, Any]] = field(default_factory=list)


class _Value:
    """SQL views of one field of one row: JSON type, text, number, and Python's str()."""

    def __init__(self, row: Any, name: str, dialect: str) -> None:
        self.type = read.field_type(name, row)
        self.text = read.field_text(name, row)
        self.number = read.field_number(name, row)
        self.dialect = dialect

    def present(self) -> ColumnElement[bool]:
        return and_(self.type.is_not(None), self.type != "null")

    def is_bool(self, value: bool) -> ColumnElement[bool]:
        return and_(self.type == "boolean", self.text == ("true" if value else "false"))

    def py_str(self) -> ColumnElement[str]:
        """The value as str() writes it (NULL for missing/null; objects are not expected)."""
        from sqlalchemy import case

        return case((self.type == "boolean", case((self.text == "true", "True"), else_="False")),
                    (self.type.in_(("string", "number")), self.text), else_=None)

    def text_number(self) -> ColumnElement[float]:
        """A string value read as a number when it looks like one, else NULL."""
        from sqlalchemy import Float, case, cast

        looks = and_(self.type == "string", self.text.regexp_match(NUMBER_TEXT))
        return case((looks, cast(func.trim(self.text), Float)), else_=None)

    def ordered_text(self, text: ColumnElement[str]) -> ColumnElement[str]:
        # Python compares str by code point; PostgreSQL's "C" collation does the same, SQLite's default too.
        return text.collate("C") if self.dialect == "postgresql" else text


def _not(clause: ColumnElement[bool]) -> ColumnElement[bool]:
    """NOT clause, where an unknown (NULL) clause counts as false first, as Python's False."""
    return not_(func.coalesce(clause, false()))


def _as_number(value: Any) -> float | None:
    from automations.conditions import _as_number as as_number

    return as_number(value)


def _equal(v: _Value, expected: Any) -> ColumnElement[bool] | None:
    """SQL for conditions._equal(actual, expected), or None when it cannot be said in SQL."""
    if expected is None:
        return or_(v.type.is_(None), v.type == "null")
    if isinstance(expected, bool):
        return or_(v.is_bool(expected), and_(v.type == "number", v.number == (1.0 if expected else 0.0)))
    if isinstance(expected, int | float):
        clauses = [and_(v.type == "number", v.number == float(expected)),
                   and_(v.text == str(expected), v.type == "string")]
        if expected in (0, 1):
            clauses.append(v.is_bool(expected == 1))
        return or_(*clauses)
    if isinstance(expected, str):
        # Text first, so PostgreSQL can use an expression index on the field's text.
        return and_(v.text == expected, v.type.in_(("string", "number")))
    return None


def _compare(v: _Value, op: str, expected: Any) -> ColumnElement[bool] | None:
    """SQL for check_value(gt|gte|lt|lte, actual, expected)."""
    import operator

    fn = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}[op]
    if expected is None:
        return false()
    as_text = str(expected)
    bools = [v.is_bool(b) for b in (True, False) if fn(str(b), as_text)]
    number = _as_number(expected)
    if number is not None and (math.isnan(number) or math.isinf(number)):
        return None
    if number is None:
        return and_(v.present(), or_(and_(v.type.in_(("string", "number")), fn(v.ordered_text(v.text), as_text)),
                                     *bools))
    text_number = v.text_number()
    return or_(and_(v.type == "number", fn(v.number, number)),
               and_(text_number.is_not(None), fn(text_number, number)),
               and_(v.type == "string", text_number.is_(None), fn(v.ordered_text(v.text), as_text)),
               *bools)


def _plain(v: _Value, op: str, expected: Any) -> ColumnElement[bool] | None:
    """SQL for check_value(op, actual, expected) on a field, or None for Python to decide."""
    if op in ("eq", "ne"):
        eq = _equal(v, expected)
        return None if eq is None else (eq if op == "eq" else _not(eq))
    if op in ("in", "not_in"):
        parts = [_equal(v, e) for e in expected or []]
        sql = [p for p in parts if p is not None]
        if len(sql) < len(parts):
            return None
        hit = or_(false(), *sql)
        return hit if op == "in" else _not(hit)
    if op in ("is_set", "is_not_set"):
        is_set = and_(v.present(), _not(and_(v.type == "string", v.text == "")))
        return is_set if op == "is_set" else _not(is_set)
    if op in ("is_true", "is_false"):
        is_true = or_(v.is_bool(True), and_(v.type == "string", func.lower(v.text) == "true"))
        return is_true if op == "is_true" else _not(is_true)
    if op in ("contains", "starts_with"):
        text, needle = v.py_str(), str(expected)
        if op == "contains":
            found = (func.strpos(text, needle) if v.dialect == "postgresql" else func.instr(text, needle)) > 0
        else:
            found = func.substr(text, 1, len(needle)) == needle
        return and_(text.is_not(None), found)
    if op in ("gt", "gte", "lt", "lte"):
        return _compare(v, op, expected)
    return None


def _campaign(person: Any, cond: dict[str, Any]) -> ColumnElement[bool] | None:
    op, value = cond["op"], cond.get("value")
    if op not in ("eq", "in", "ne", "not_in"):
        return true()  # other operators never excluded anyone
    wanted = [str(w) for w in (value if isinstance(value, list) else [value])]
    member = read.mirror_alias()
    members = (select(read.campaign_member_person(member))
               .where(member.object_name == "CampaignMember", member.is_deleted.is_(False),
                      read.field_text("CampaignId", member).in_(wanted),
                      read.campaign_member_person(member).is_not(None)))
    hit = person.sf_id.in_(members)
    return hit if op in ("eq", "in") else not_(hit)


def _whole_days(value: Any) -> int | None:
    """The whole number of days `value` equals in conditions._equal, if any."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return int(value) if float(value).is_integer() else None
    if isinstance(value, str):
        try:
            return int(value) if str(int(value)) == value else None
        except ValueError:
            return None
    return None


def _days_since_open(person: Any, cond: dict[str, Any], now: datetime) -> ColumnElement[bool] | None:
    """days_since_open as ranges of open times: floor((now − last open) / 1 day) op value."""
    op, value = cond["op"], cond.get("value")

    def opened(after: datetime | None = None) -> ColumnElement[bool]:
        o = aliased(Activity)
        clause = exists().where(o.kind == "mail_open", o.person_id == person.sf_id)
        return clause.where(o.occurred_at > after) if after is not None else clause

    def at_least(k: int) -> ColumnElement[bool]:  # days >= k ⟺ the last open is at or before now − k days
        return and_(opened(), not_(opened(now - timedelta(days=k))))

    def at_most(k: int) -> ColumnElement[bool]:  # days <= k ⟺ some open after now − (k + 1) days
        return opened(now - timedelta(days=k + 1))

    if op in ("is_set", "is_not_set"):
        return opened() if op == "is_set" else not_(opened())
    if op in ("is_true", "is_false"):
        return false() if op == "is_true" else true()  # a number of days is never True
    if op in ("eq", "ne", "in", "not_in"):
        values = value if op in ("in", "not_in") else [value]
        if not isinstance(values, list):
            return None
        parts: list[ColumnElement[bool]] = []
        for v in values:
            if v is None:
                parts.append(not_(opened()))
                continue
            k = _whole_days(v)
            if k is not None:
                parts.append(and_(at_least(k), at_most(k)))
        hit = or_(false(), *parts)
        return hit if op in ("eq", "in") else not_(hit)
    if op in ("gt", "gte", "lt", "lte"):
        number = _as_number(value)
        if value is None:
            return false()
        if number is None or math.isnan(number) or math.isinf(number):
            return None
        if op == "gt":
            return at_least(math.floor(number) + 1)
        if op == "gte":
            return at_least(math.ceil(number))
        if op == "lt":
            return at_most(math.ceil(number) - 1)
        return at_most(math.floor(number))
    return None


def compile_conditions(person: Any, conditions: list[dict[str, Any]], dialect: str,
                       now: datetime) -> Compiled:
    """WHERE clauses on `person` (a Mirror alias of Leads/Contacts) for segment conditions."""
    out = Compiled()
    related: dict[str, Any] = {}
    for cond in conditions:
        path, op, value = cond["field"], cond["op"], cond.get("value")
        clause: ColumnElement[bool] | None
        if path == "campaign":
            clause = _campaign(person, cond)
        elif path == "days_since_open":
            clause = _days_since_open(person, cond, now)
        else:
            rel, _, name = path.rpartition(".")
            row = person
            if rel and rel != "person":
                if rel not in related:
                    related[rel] = read.mirror_alias()
                    out.joins.append((related[rel], related[rel].sf_id == read.field_text(f"{rel}Id", person)))
                row = related[rel]
            clause = _plain(_Value(row, name, dialect), op, value)
        if clause is None:
            out.residual.append(cond)
        else:
            out.where.append(clause)
    return out
