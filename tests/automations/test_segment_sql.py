"""Segments run as SQL and select exactly the people the record-by-record evaluation selects."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

import db as dbmod
from activity.models import Activity
from automations import segments
from automations.conditions import Record
from config.person_model import default_model
from sync.keys import record_keys
from sync.models import MirrorRecord

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)

# Values of every JSON type a mirror holds, and the odd ones real orgs have: numbers kept as text,
# text in a number field, 'TRUE' as text, empty strings, dates, nulls, Japanese text.
SCORES = [10, 49.5, 50, "50", "75", " 80 ", "abc", None, True, 0, 1, "", 100.0, "1e2", -3]
STATES = ["東京都", "大阪府", "", None, "東京", 13, "13"]
FLAGS = [True, False, None, "true", "TRUE", "false", 1, 0]
DATES = ["2026-01-15", "2025-12-31", "2026-11-30T10:00:00.000+0000", None, ""]


def _row(sf_id: str, object_name: str, fields: dict[str, Any], deleted: bool = False) -> MirrorRecord:
    fields = {"Id": sf_id, **fields}
    return MirrorRecord(sf_id=sf_id, object_name=object_name, fields=fields, system_modstamp=NOW,
                        is_deleted=deleted, last_source="poll", **record_keys(object_name, fields, default_model()))


@pytest.fixture
def varied(app: Any) -> list[str]:
    """A mirror of 60 people with varied values, 2 Accounts, 2 campaigns' members and mail opens."""
    rows = [_row("001000000000001AAA", "Account", {"Name": "第1班", "Industry": "Retail", "NumberOfEmployees": 5}),
            _row("001000000000002AAA", "Account", {"Name": "第2班", "Industry": None, "NumberOfEmployees": "12"})]
    ids = []
    for n in range(60):
        object_name = "Contact" if n % 3 else "Lead"
        sf_id = f"{'003' if n % 3 else '00Q'}{n:012d}AAA"
        ids.append(sf_id)
        fields: dict[str, Any] = {"LastName": f"山田{n}", "Email": None if n % 7 == 0 else f"p{n}@example.jp",
                                  "Score__c": SCORES[n % len(SCORES)], "State": STATES[n % len(STATES)],
                                  "HasOptedOutOfEmail": FLAGS[n % len(FLAGS)], "Birthdate": DATES[n % len(DATES)],
                                  "LeadSource": ["Web", "Phone Inquiry", "ウェブ"][n % 3]}
        if n % 11 == 4:
            del fields["Score__c"]
        if object_name == "Contact" and n % 4:
            fields["AccountId"] = "001000000000001AAA" if n % 4 == 1 else (
                "001000000000002AAA" if n % 4 == 2 else "001000000000099AAA")  # the last one is not mirrored
        rows.append(_row(sf_id, object_name, fields, deleted=n == 59))
    for n, person in enumerate(ids[:30]):
        key = "ContactId" if person.startswith("003") else "LeadId"
        campaign = "701000000000001AAA" if n % 2 else "701000000000002AAA"
        rows.append(_row(f"00v{n:012d}AAA", "CampaignMember", {"CampaignId": campaign, key: person,
                                                               "ContactId": "" if key == "LeadId" else person},
                         deleted=n == 29))
    with dbmod.get_db(app).transaction() as session:
        session.add_all(rows)
        for n, person in enumerate(ids):
            if n % 4 == 3:
                continue  # never opened anything
            # Last opens from 0.5 to 40.5 days ago, some with an older open too.
            session.add(Activity(kind="mail_open", person_id=person, occurred_at=NOW - timedelta(days=n % 41 + 0.5)))
            if n % 5 == 0:
                session.add(Activity(kind="mail_open", person_id=person, occurred_at=NOW - timedelta(days=90)))
            session.add(Activity(kind="page_view", person_id=person, occurred_at=NOW - timedelta(hours=1)))
    return ids


def _python(session: Any, spec: dict[str, Any]) -> list[str]:
    """The record-by-record evaluation segments did before they ran as SQL (the reference)."""
    check = segments._python_check(session, spec.get("conditions") or [], NOW)
    rows = session.execute(select(MirrorRecord.sf_id, MirrorRecord.object_name, MirrorRecord.fields)
                           .where(MirrorRecord.object_name.in_(spec.get("objects") or ["Lead", "Contact"]),
                                  MirrorRecord.is_deleted.is_(False)).order_by(MirrorRecord.sf_id))
    return [sf_id for sf_id, name, fields in rows if check(Record(sf_id, name, fields))]


VALUES: dict[str, list[Any]] = {
    "Score__c": [50, "50", 49.5, "abc", None, True, 1, 0, "", 100, "1e2", "-3"],
    "State": ["東京都", "", None, 13, "13", "東"],
    "HasOptedOutOfEmail": [True, False, None, "true", 1],
    "Birthdate": ["2026-01-01", "2026", None, 2026],
    "Account.Industry": ["Retail", None, ""],
    "Account.NumberOfEmployees": [5, "12", 10],
    "person.LeadSource": ["Web", "ウェブ"],
    "days_since_open": [0, 3, "3", 3.0, 2.5, 10, True, None, "3.0", 40],
}
OPS = ("eq", "ne", "in", "not_in", "contains", "starts_with", "is_set", "is_not_set", "is_true", "is_false",
       "gt", "gte", "lt", "lte")


def _specs() -> list[dict[str, Any]]:
    specs = []
    for field, values in VALUES.items():
        for op in OPS:
            if op in ("in", "not_in"):
                cases: list[Any] = [values[:2], values[2:4], []]
            elif op in ("is_set", "is_not_set", "is_true", "is_false"):
                cases = [None]
            else:
                cases = values
            for value in cases:
                specs.append({"objects": ["Lead", "Contact"], "conditions": [{"field": field, "op": op,
                                                                               "value": value}]})
    for op, value in (("eq", "701000000000001AAA"), ("in", ["701000000000002AAA", "701000000000009AAA"]),
                      ("ne", "701000000000001AAA"), ("not_in", ["701000000000001AAA", "701000000000002AAA"]),
                      ("is_set", None)):
        specs.append({"objects": ["Lead", "Contact"], "conditions": [{"field": "campaign", "op": op, "value": value}]})
    specs.append({"objects": ["Contact"], "conditions": [
        {"field": "Score__c", "op": "gte", "value": 10}, {"field": "Account.Industry", "op": "eq", "value": "Retail"},
        {"field": "days_since_open", "op": "lte", "value": 30}, {"field": "Email", "op": "is_set", "value": None}]})
    specs.append({"objects": ["Lead"], "conditions": [{"field": "campaign", "op": "in",
                                                       "value": ["701000000000001AAA", "701000000000002AAA"]},
                                                      {"field": "State", "op": "ne", "value": "東京都"}]})
    return specs


def test_every_operator_on_every_kind_of_value_selects_what_record_by_record_evaluation_selects(app, varied):
    with dbmod.get_db(app).sessionmaker() as session:
        disagreements = []
        specs = _specs()
        for spec in specs:
            expected = _python(session, spec)
            got = [r.id for r in segments.matching(session, spec, now=NOW)]
            if got != expected or segments.count(session, spec, now=NOW) != len(expected):
                disagreements.append((spec["conditions"], sorted(set(got) - set(expected)),
                                      sorted(set(expected) - set(got))))
        assert disagreements == []
        # The fixture is varied enough that most specs select some but not all people.
        sizes = {len(_python(session, spec)) for spec in specs}
        assert len(sizes) > 10


def test_common_conditions_need_no_python(app, varied):
    from automations.segment_sql import compile_conditions

    with dbmod.get_db(app).sessionmaker() as session:
        dialect = session.get_bind().dialect.name
        for spec in _specs():
            compiled = compile_conditions(MirrorRecord, spec["conditions"], dialect, NOW)
            cond = spec["conditions"][0]
            oddity = cond["field"] == "days_since_open" and (
                cond["op"] in ("contains", "starts_with")
                or (cond["op"] in ("gt", "gte", "lt", "lte") and cond["value"] in (True, "abc")))
            assert (compiled.residual != []) == oddity, spec


def test_the_segment_page_counts_everyone_and_pages_through_its_members(app, sign_in, varied):
    admin = sign_in("admin")
    created = admin.post("/admin/automations/segments/new", data={"document": """
key: named
name: 氏名あり
conditions:
  - {field: LastName, op: is_set}
"""})
    assert created.status_code == 302
    page = admin.get("/admin/automations/segments/named").get_data(as_text=True)
    expected = sorted(varied[:59])
    assert f'<strong class="segment-count">{len(expected)}</strong>' in page
    assert all(i in page for i in expected[:50]) and expected[50] not in page
    next_page = admin.get(f"/admin/automations/segments/named?after={expected[49]}").get_data(as_text=True)
    assert all(i in next_page for i in expected[50:]) and expected[49] not in next_page
    assert 'rel="next"' in page and 'rel="next"' not in next_page
    assert admin.get("/admin/automations/segments/named?after=x'--").status_code == 400


def test_segment_members_are_streamed_in_chunks(app, varied):
    with dbmod.get_db(app).sessionmaker() as session:
        spec = {"objects": ["Lead", "Contact"], "conditions": []}
        first = list(itertools.islice(segments.matching(session, spec), 5))
        assert [r.id for r in first] == sorted(varied[:59])[:5]


NAMED = """key: named
name: {name}
conditions:
  - {{field: LastName, op: is_set}}
"""


def test_the_segment_page_shows_the_refresh_jobs_count_with_its_time_until_the_segment_changes(app, sign_in, varied):
    admin = sign_in("admin")
    admin.post("/admin/automations/segments/new", data={"document": NAMED.format(name="氏名あり")})
    with app.app_context():
        app.extensions["tsunagi.work"].job_handlers["reports.refresh"]({})
    with dbmod.get_db(app).transaction() as session:
        session.add(MirrorRecord(sf_id="003999999999999AAA", object_name="Contact", fields={"LastName": "新"},
                                 system_modstamp=NOW, last_source="poll"))
    page = admin.get("/admin/automations/segments/named").get_data(as_text=True)
    assert '<strong class="segment-count">59</strong>' in page and 'class="snapshot-age"' in page
    live = admin.get("/admin/automations/segments/named?count=live").get_data(as_text=True)
    assert '<strong class="segment-count">60</strong>' in live and 'class="snapshot-age"' not in live
    # Saving the segment makes the snapshot stale: the page counts live again.
    admin.post("/admin/automations/segments/named", data={"document": NAMED.format(name="氏名あり（改）")})
    assert '<strong class="segment-count">60</strong>' in admin.get("/admin/automations/segments/named").get_data(
        as_text=True)
