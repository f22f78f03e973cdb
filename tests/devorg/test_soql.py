"""SOQL through simple-salesforce, checked against a plain-Python oracle over the org's records."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

pytestmark = pytest.mark.db_independent

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)  # 12:00 in Tokyo, the org's time zone
LEADS = [
    # LastName, Email, Score__c, HasOptedOutOfEmail, Status, days before NOW it was created
    ("Abe", "abe@example.jp", 10, False, "Open - Not Contacted", 0),
    ("abe", None, 20, True, "Working - Contacted", 1),
    ("O'Brien", "ob@example.com", None, False, "Working - Contacted", 3),
    ("佐藤", "sato@example.jp", 30, False, "Closed - Converted", 10),
    ("100%_done", "x@example.jp", 30, True, "Open - Not Contacted", 40),
    ("Zeta", None, None, False, "Closed - Not Converted", 2),
]


@pytest.fixture
def leads(devorg):
    """The LEADS above in the org, each created at its own time; returns the org's records."""
    for name, email, score, opted_out, status, days in LEADS:
        devorg.set_clock(NOW - timedelta(days=days))
        devorg.insert("Lead", LastName=name, Company="生協", Email=email, Score__c=score,
                      HasOptedOutOfEmail=opted_out, Status=status)
    devorg.set_clock(NOW)
    return devorg.records("Lead")


def _ids(sf, where):
    return {r["Id"] for r in sf.query_all(f"SELECT Id FROM Lead WHERE {where}")["records"]}


def _created(record):
    return datetime.strptime(record["CreatedDate"], "%Y-%m-%dT%H:%M:%S.%f%z")


TOKYO_TODAY = date(2026, 11, 20)


def _local_day(record):
    return (_created(record) + timedelta(hours=9)).date()


CASES = [
    ("LastName = 'abe'", lambda r: r["LastName"].lower() == "abe"),
    ("LastName != 'abe'", lambda r: r["LastName"].lower() != "abe"),
    ("LastName <> 'Zeta'", lambda r: r["LastName"] != "Zeta"),
    ("Score__c > 10", lambda r: r["Score__c"] is not None and r["Score__c"] > 10),
    ("Score__c >= 20", lambda r: r["Score__c"] is not None and r["Score__c"] >= 20),
    ("Score__c < 30", lambda r: r["Score__c"] is not None and r["Score__c"] < 30),
    ("Score__c <= 10", lambda r: r["Score__c"] is not None and r["Score__c"] <= 10),
    ("Score__c = null", lambda r: r["Score__c"] is None),
    ("Score__c != null", lambda r: r["Score__c"] is not None),
    ("Email = null", lambda r: r["Email"] is None),
    ("HasOptedOutOfEmail = true", lambda r: r["HasOptedOutOfEmail"] is True),
    ("HasOptedOutOfEmail = false", lambda r: r["HasOptedOutOfEmail"] is False),
    ("Status IN ('Working - Contacted', 'Closed - Converted')",
     lambda r: r["Status"] in ("Working - Contacted", "Closed - Converted")),
    ("Status NOT IN ('Working - Contacted')", lambda r: r["Status"] != "Working - Contacted"),
    ("Email LIKE '%@example.jp'", lambda r: r["Email"] is not None and r["Email"].endswith("@example.jp")),
    ("LastName LIKE 'a_e'", lambda r: r["LastName"].lower() in ("abe",)),
    (r"LastName LIKE '100\%\_%'", lambda r: r["LastName"].startswith("100%_")),
    (r"LastName = 'O\'Brien'", lambda r: r["LastName"] == "O'Brien"),
    ("LastName = '佐藤'", lambda r: r["LastName"] == "佐藤"),
    ("NOT LastName = 'abe'", lambda r: r["LastName"].lower() != "abe"),
    ("Score__c > 10 AND HasOptedOutOfEmail = false",
     lambda r: (r["Score__c"] or 0) > 10 and not r["HasOptedOutOfEmail"]),
    ("Score__c = 10 OR Email = null", lambda r: r["Score__c"] == 10 or r["Email"] is None),
    ("(Score__c = 30 OR Score__c = null) AND NOT (HasOptedOutOfEmail = true)",
     lambda r: r["Score__c"] in (30, None) and not r["HasOptedOutOfEmail"]),
    ("CreatedDate = TODAY", lambda r: _local_day(r) == TOKYO_TODAY),
    ("CreatedDate = YESTERDAY", lambda r: _local_day(r) == TOKYO_TODAY - timedelta(days=1)),
    ("CreatedDate = LAST_N_DAYS:3", lambda r: TOKYO_TODAY - timedelta(days=3) <= _local_day(r) <= TOKYO_TODAY),
    ("CreatedDate < LAST_N_DAYS:3", lambda r: _local_day(r) < TOKYO_TODAY - timedelta(days=3)),
    ("CreatedDate > 2026-11-18T00:00:00Z", lambda r: _created(r) > datetime(2026, 11, 18, tzinfo=UTC)),
    ("CreatedDate <= 2026-11-17T03:00:00.000+0000", lambda r: _created(r) <= datetime(2026, 11, 17, 3, tzinfo=UTC)),
    ("CreatedDate >= 2026-11-19T12:00:00+09:00", lambda r: _created(r) >= datetime(2026, 11, 19, 3, tzinfo=UTC)),
]


@pytest.mark.parametrize(("where", "oracle"), CASES, ids=[c[0] for c in CASES])
def test_where_clause_matches_python_oracle(devorg, leads, where, oracle):
    expected = {r["Id"] for r in leads if oracle(r)}
    assert _ids(devorg.salesforce(), where) == expected


def test_date_literals_on_date_fields(devorg):
    devorg.set_clock(NOW)
    for days in (-5, -1, 0, 1, 3, 8):
        devorg.insert("Task", Subject=f"d{days}", ActivityDate=TOKYO_TODAY + timedelta(days=days))
    sf = devorg.salesforce()

    def subjects(where):
        rows = sf.query_all(f"SELECT Subject FROM Task WHERE {where} ORDER BY ActivityDate")["records"]
        return [r["Subject"] for r in rows]

    assert subjects("ActivityDate = TODAY") == ["d0"]
    assert subjects("ActivityDate = YESTERDAY") == ["d-1"]
    assert subjects("ActivityDate = NEXT_N_DAYS:3") == ["d1", "d3"]
    assert subjects("ActivityDate = LAST_N_DAYS:5") == ["d-5", "d-1", "d0"]
    assert subjects("ActivityDate > 2026-11-21") == ["d3", "d8"]


def test_order_by_several_fields_with_nulls_placement(devorg, leads):
    sf = devorg.salesforce()
    rows = sf.query("SELECT LastName, Score__c FROM Lead ORDER BY Score__c DESC NULLS LAST, LastName ASC")["records"]
    names = [r["LastName"] for r in rows]
    # equal scores fall back to the name (digits sort before kanji); nulls come last
    assert names == ["100%_done", "佐藤", "abe", "Abe", "O'Brien", "Zeta"]
    scores = [r["Score__c"] for r in rows]
    assert scores == [30, 30, 20, 10, None, None]
    rows = sf.query("SELECT LastName FROM Lead ORDER BY Score__c ASC NULLS FIRST, LastName DESC")["records"]
    assert [r["LastName"] for r in rows][:2] == ["Zeta", "O'Brien"]
    default = sf.query("SELECT Score__c FROM Lead ORDER BY Score__c")["records"]
    assert [r["Score__c"] for r in default][:2] == [None, None]


def test_limit_offset_and_count(devorg, leads):
    sf = devorg.salesforce()
    ordered = [r["LastName"] for r in sf.query("SELECT LastName FROM Lead ORDER BY CreatedDate")["records"]]
    page = sf.query("SELECT LastName FROM Lead ORDER BY CreatedDate LIMIT 2 OFFSET 1")["records"]
    assert [r["LastName"] for r in page] == ordered[1:3]
    counted = sf.query("SELECT COUNT() FROM Lead WHERE Score__c != null")
    assert counted["totalSize"] == 4 and counted["records"] == []


def test_parent_relationship_fields_are_nested_records(devorg):
    account = devorg.insert("Account", Name="つなぎ生協 北センター")
    contact = devorg.insert("Contact", LastName="山田", Email="yamada@example.jp", AccountId=account)
    lonely = devorg.insert("Contact", LastName="一人")
    devorg.insert("Task", Subject="訪問", WhoId=contact, Visit_Result__c="不在")
    devorg.insert("Task", Subject="電話")
    sf = devorg.salesforce()
    rows = sf.query("SELECT Subject, Who.Email, Owner.Name FROM Task ORDER BY Subject")["records"]
    assert rows[0]["Who"]["Email"] == "yamada@example.jp"
    assert rows[0]["Who"]["attributes"]["type"] == "Contact"
    assert rows[0]["Owner"]["Name"] == "管理 花子"
    assert rows[1]["Who"] is None
    contacts = sf.query(f"SELECT Account.Name FROM Contact WHERE Id IN ('{contact}', '{lonely[:15]}') "
                        "ORDER BY Account.Name NULLS LAST")["records"]
    assert contacts[0]["Account"]["Name"] == "つなぎ生協 北センター" and contacts[1]["Account"] is None
    filtered = sf.query("SELECT Id FROM Task WHERE Who.Email LIKE 'yamada%'")["records"]
    assert len(filtered) == 1


def test_query_all_includes_deleted_rows_and_query_does_not(devorg):
    kept = devorg.insert("Contact", LastName="残る")
    gone = devorg.insert("Contact", LastName="消える")
    devorg.delete("Contact", gone)
    sf = devorg.salesforce()
    assert [r["Id"] for r in sf.query("SELECT Id FROM Contact")["records"]] == [kept]
    everything = sf.query_all("SELECT Id, IsDeleted FROM Contact ORDER BY Id", include_deleted=True)["records"]
    assert [(r["Id"], r["IsDeleted"]) for r in everything] == [(kept, False), (gone, True)]
    devorg.undelete("Contact", gone)
    assert len(sf.query("SELECT Id FROM Contact")["records"]) == 2


def test_cursor_pages_of_records_sharing_one_system_modstamp(devorg):
    devorg.set_clock(NOW)
    created = [devorg.insert("Lead", LastName=f"L{n}", Company="c") for n in range(300)]
    devorg.set_clock(None)
    sf = devorg.salesforce()
    stamp = "2026-11-20T03:00:00.000Z"
    seen, last_id = [], ""
    while True:
        cursor = f"SystemModstamp > {stamp} OR (SystemModstamp = {stamp} AND Id > '{last_id or '000000000000000'}')"
        rows = sf.query(f"SELECT Id FROM Lead WHERE {cursor} ORDER BY SystemModstamp, Id LIMIT 200")["records"]
        if not rows:
            break
        seen += [r["Id"] for r in rows]
        last_id = rows[-1]["Id"]
    assert seen == sorted(created)


@pytest.mark.parametrize(("soql", "code"), [
    ("SELECT Id FROM Lead WHERE", "MALFORMED_QUERY"),
    ("SELECT Id FROM Lead WHERE LastName = 'a' AND Email = 'b' OR Score__c = 1", "MALFORMED_QUERY"),
    ("SELECT Id FROM Lead WHERE Score__c = 'ten'", "MALFORMED_QUERY"),
    ("SELECT Id FROM Lead WHERE LastName = 10", "MALFORMED_QUERY"),
    ("SELECT Id FROM Lead WHERE CreatedDate = 2026-11-20", "MALFORMED_QUERY"),
    ("SELECT Id FROM Lead GROUP BY LastName", "MALFORMED_QUERY"),
    ("SELECT Id FROM Lead LIMIT ten", "MALFORMED_QUERY"),
    ("SELECT Id FROM Lead WHERE LastName = 'unterminated", "MALFORMED_QUERY"),
    ("SELECT Nope FROM Lead", "INVALID_FIELD"),
    ("SELECT Id FROM Lead WHERE Nope__c = 1", "INVALID_FIELD"),
    ("SELECT Id FROM Lead ORDER BY Nope", "INVALID_FIELD"),
    ("SELECT Who.Nope FROM Task", "INVALID_FIELD"),
    ("SELECT Id FROM Nope", "INVALID_TYPE"),
])
def test_what_the_org_cannot_understand_is_a_400_never_ignored(devorg, soql, code):
    with pytest.raises(SalesforceMalformedRequest) as caught:
        devorg.salesforce().query(soql)
    assert caught.value.status == 400
    assert caught.value.content[0]["errorCode"] == code
    assert set(caught.value.content[0]) >= {"message", "errorCode"}
