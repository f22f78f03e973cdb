"""Data quality (名寄せ): duplicates written differently are found, distinct people are not paired."""

from __future__ import annotations

import csv
import io

import pytest

from db import get_db
from reports import dedupe
from tests.scoring.people import add_records, contact_id, lead_id


@pytest.fixture
def people(app):
    with get_db(app).transaction() as s:
        add_records(s, "Lead",
                    # 1 and Contact 1: same company written two ways, same name and kana, no shared email/phone.
                    {"Id": lead_id(1), "LastName": "山田", "FirstName": "太郎", "LastNameKana__c": "ヤマダ",
                     "FirstNameKana__c": "タロウ", "Company": "株式会社ＡＢＣ", "Email": "taro@abc.example.jp"},
                    # 2 and 3: one phone in two notations.
                    {"Id": lead_id(2), "LastName": "佐藤", "FirstName": "花子", "Company": "生協",
                     "Phone": "090-1234-5678", "Email": "hanako@example.jp"},
                    {"Id": lead_id(3), "LastName": "佐藤", "FirstName": "はなこ", "Company": "生協",
                     "Phone": "０９０１２３４５６７８"},
                    # 4 and Contact 2: one email, different case and full-width letters.
                    {"Id": lead_id(4), "LastName": "鈴木", "Company": "XYZ", "Email": "Ichiro@Example.JP"},
                    # Distinct people sharing a surname, a company or a first name only: never pairs.
                    {"Id": lead_id(5), "LastName": "山田", "FirstName": "次郎", "LastNameKana__c": "ヤマダ",
                     "FirstNameKana__c": "ジロウ", "Company": "(株)ABC", "Email": "jiro@abc.example.jp",
                     "Phone": "03-1234-5678"},
                    {"Id": lead_id(6), "LastName": "田中", "FirstName": "太郎", "Company": "DEF",
                     "Email": "not-an-address", "Phone": "12345"},
                    {"Id": lead_id(7), "LastName": "", "Company": "", "Email": ""})
        add_records(s, "Contact",
                    {"Id": contact_id(1), "LastName": "山田", "FirstName": "太郎", "LastNameKana__c": "ﾔﾏﾀﾞ",
                     "FirstNameKana__c": "たろう", "Account": {"Name": "(株)ABC"}, "Email": "t.yamada@abc.example.jp"},
                    {"Id": contact_id(2), "LastName": "鈴木", "FirstName": "一郎", "Email": "ｉｃｈｉｒｏ@example.jp",
                     "Account": {"Name": "XYZ"}},
                    {"Id": contact_id(3), "LastName": "高橋", "Email": "takahashi@example.jp", "Phone": "03-9876-5432",
                     "Account": {"Name": "ABC"}})
    return app


def test_duplicates_written_differently_are_found_and_nothing_else(people):
    with get_db(people).transaction() as s:
        pairs = {(p.first.sf_id, p.second.sf_id): p.reasons for p in dedupe.duplicate_pairs(s)}
    assert pairs == {
        (contact_id(1), lead_id(1)): ["name_kana_company"],
        (lead_id(2), lead_id(3)): ["phone"],
        (contact_id(2), lead_id(4)): ["email"],
    }


def test_admin_marks_a_pair_not_a_duplicate_and_it_disappears(people, sign_in):
    admin = sign_in("admin")
    page = admin.get("/admin/reports/data-quality").get_data(as_text=True)
    assert f'data-pair="{lead_id(2)},{lead_id(3)}"' in page
    response = admin.post("/admin/reports/data-quality/dismiss", data={"first_id": lead_id(3), "second_id": lead_id(2)})
    assert response.status_code == 303
    page = admin.get("/admin/reports/data-quality").get_data(as_text=True)
    assert f'data-pair="{lead_id(2)},{lead_id(3)}"' not in page
    assert f'data-pair="{contact_id(1)},{lead_id(1)}"' in page


def test_dismiss_refuses_bad_ids(people, sign_in):
    admin = sign_in("admin")
    response = admin.post("/admin/reports/data-quality/dismiss", data={"first_id": "x' OR 1=1", "second_id": "y"},
                          follow_redirects=True)
    assert "IDが正しくありません。" in response.get_data(as_text=True)


def test_invalid_emails_and_phones_are_listed(people):
    with get_db(people).transaction() as s:
        found = {(r["id"], r["field"]) for r in dedupe.invalid_contacts(s)}
    assert found == {(lead_id(6), "Email"), (lead_id(6), "Phone")}


def test_missing_required_fields_are_listed(people):
    with get_db(people).transaction() as s:
        missing = {r["id"]: r["missing"] for r in dedupe.missing_fields(s, ("Lead.LastName", "Lead.Email",
                                                                           "Contact.Phone"))}
    assert missing[lead_id(7)] == ["LastName", "Email"]
    assert missing[lead_id(3)] == ["Email"]
    assert contact_id(3) not in missing and contact_id(1) in missing


def test_duplicates_csv_export_for_salesforce_clean_up(people, sign_in):
    response = sign_in("admin").get("/admin/reports/data-quality", query_string={"format": "csv",
                                                                                 "section": "duplicates"})
    body = response.get_data()
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][0] == "ID 1"
    assert {(r[0], r[3], r[6]) for r in rows[1:]} == {(contact_id(1), lead_id(1), "name_kana_company"),
                                                      (lead_id(2), lead_id(3), "phone"),
                                                      (contact_id(2), lead_id(4), "email")}


def test_dismiss_form_is_refused_without_a_csrf_token(make_app):
    app = make_app(config={"WTF_CSRF_ENABLED": True})
    import re

    from people.service import create_user
    from tests.fixtures.app import TEST_PASSWORD

    with get_db(app).transaction() as s:
        create_user(s, "dq@example.jp", "admin", TEST_PASSWORD)
    client = app.test_client()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    client.post("/login", data={"email": "dq@example.jp", "password": TEST_PASSWORD, "csrf_token": token})
    response = client.post("/admin/reports/data-quality/dismiss", data={"first_id": lead_id(2),
                                                                         "second_id": lead_id(3)})
    assert response.status_code == 400


@pytest.mark.parametrize("limit", [1, 7, 40, 500])
def test_the_first_pairs_by_id_are_found_whatever_the_limit_and_group_sizes(app, limit):
    # One name shared by 25 people, emails shared by pairs and by a trio, a phone by two.
    records = [{"Id": lead_id(n), "LastName": "佐藤", "FirstName": "花子", "LastNameKana__c": "サトウ",
                "Company": "個人", "Email": f"p{n // 2 if n > 30 else n}@example.jp"} for n in range(1, 41)]
    records += [{"Id": lead_id(n), "LastName": f"別人{n}", "Email": "trio@example.jp", "Phone": "090-1111-2222"
                 if n < 43 else None} for n in range(41, 44)]
    with get_db(app).transaction() as s:
        add_records(s, "Lead", *records)
        from sync.models import MirrorRecord

        people = list(s.query(MirrorRecord).order_by(MirrorRecord.sf_id))
        expected = {}
        for reason, names in (("email", ("email_key",)), ("phone", ("phone_key",)),
                              ("name_kana_company", ("name_key", "kana_key", "company_key"))):
            every = [(x.sf_id, y.sf_id) for x in people for y in people if x.sf_id < y.sf_id
                     and all(getattr(x, n) is not None and getattr(x, n) == getattr(y, n) for n in names)]
            for pair in every[:limit]:
                expected.setdefault(pair, []).append(reason)
        got = {(p.first.sf_id, p.second.sf_id): p.reasons for p in dedupe.duplicate_pairs(s, limit=limit)}
    order = {"email": 0, "phone": 1, "name_kana_company": 2}
    ranked = sorted(expected.items(), key=lambda kv: (-len(kv[1]), order[kv[1][0]], kv[0]))[:limit]
    assert got == dict(ranked)


def test_sql_picks_every_invalid_value_and_every_missing_field_the_exact_checks_find(app):
    """The data-quality job finds candidates in SQL (no pass over the mirror in Python): values
    that only look fine, written full-width, or blank in Japanese must still be reported."""
    tricky = [("mail.localhost@example.test", "090-1234-5678"), ("a..b@example.jp", "０９０１２３４５６７８"),
              ("ok@my-coop.example.jp", "090-0123-4567"), ("x@ab--cd.jp", "03-1234-5678"),
              (" spaced@example.jp ", "06-1234-5678"), ("ＡＢＣ@example.jp", "12-34"),
              ("plain@example.jp", "080-1234-5678\n"), ("", "0120-123-456")]
    with get_db(app).transaction() as s:
        add_records(s, "Contact", *[{"Id": contact_id(10 + i), "LastName": "　" if i % 3 == 0 else f"会員{i}",
                                     "Email": email, "Phone": phone, "HasOptedOutOfEmail": i % 2 == 0,
                                     "Score__c": 0 if i == 5 else i}
                                    for i, (email, phone) in enumerate(tricky)])
        found = {(r["id"], r["field"]) for r in dedupe.invalid_contacts(s)}
        missing = {r["id"]: r["missing"] for r in dedupe.missing_fields(
            s, ("Contact.LastName", "Contact.HasOptedOutOfEmail", "Contact.Score__c"))}
    expected = set()
    for i, (email, phone) in enumerate(tricky):
        if email.strip() and dedupe._email_problem(email.strip()):
            expected.add((contact_id(10 + i), "Email"))
        if phone.strip() and dedupe.phone_key(phone.strip()) is None:
            expected.add((contact_id(10 + i), "Phone"))
    assert found == expected and (contact_id(12), "Phone") in found and (contact_id(10), "Email") in found
    assert missing[contact_id(10)] == ["LastName", "Score__c"]  # "　" and 0
    assert missing[contact_id(11)] == ["HasOptedOutOfEmail"]  # false
    assert missing[contact_id(15)] == ["HasOptedOutOfEmail", "Score__c"] and contact_id(12) not in missing
