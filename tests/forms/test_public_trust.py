"""A stranger typing a customer's phone number into a public form never rewrites, enrolls or mails that customer.

The attack from issue 13: post an existing Lead's phone with another name, address and an
attacker's mail address. Only a signed link (forms.links) may attach a public entry to a person.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

import db as dbmod
from automations.models import Enrollment
from forms.links import signed_form_url
from mail.models import OutboxMail
from tests.forms.helpers import all_status, org_app, submissions, token_of, work_until

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "automations" / "examples"
VICTIM = {"LastName": "佐藤", "FirstName": "花子", "LastNameKana__c": "サトウ", "FirstNameKana__c": "ハナコ",
          "Company": "個人", "Email": "hanako@example.jp", "Phone": "090-1111-2222", "PostalCode": "150-0001",
          "State": "東京都", "City": "渋谷区", "Street": "神宮前1-1"}
ATTACK = {"LastName": "偽者", "FirstName": "太郎", "LastNameKana__c": "にせもの", "FirstNameKana__c": "たろう",
          "Email": "attacker@evil.example", "Phone": "090-1111-2222", "PostalCode": "530-0001",
          "State": "大阪府", "City": "大阪市北区", "Street": "梅田9-9", "MailOptIn": "1"}
WATCHED = ("LastName", "FirstName", "Email", "Phone", "PostalCode", "State", "City", "Street")


@pytest.fixture
def public_site(make_app, devorg):
    """The app on the dev org with the shipped forms and automations (the materials follow-up)."""
    app = org_app(make_app, devorg)
    runner = app.test_cli_runner()
    for name in ("form_confirmations.yaml", "materials_request.yaml"):
        loaded = runner.invoke(args=["automations", "load", str(EXAMPLES / name)])
        assert loaded.exit_code == 0, loaded.output
    victim = devorg.insert("Lead", **VICTIM)
    assert runner.invoke(args=["sync", "run", "--once"]).exit_code == 0  # the mirror knows her
    return app, victim


def _post(client, path: str, data: dict) -> int:
    token = token_of(client.get(path).get_data(as_text=True))
    # The visitor ticks the privacy-policy box, as every public 資料請求 needs.
    return client.post(path.split("?")[0], data={**data, "_token": token, "_stage": "submit", "_privacy": "1"}
                       ).status_code


def _settle(app) -> None:
    """Every submission written, then the automations' passes run until nothing is left."""
    from work.worker import work_once

    work_until(app, all_status(app, "written"))
    while work_once(app, "test-worker"):
        pass


def _enrolled(app) -> set[str | None]:
    with dbmod.get_db(app).transaction() as session:
        return set(session.scalars(select(Enrollment.person_id)))


def _mails(app) -> list[tuple[str, str | None]]:
    with dbmod.get_db(app).transaction() as session:
        return [(m.to_address, m.person_id) for m in session.scalars(select(OutboxMail).order_by(OutboxMail.id))]


def test_a_stranger_posting_a_customer_s_phone_creates_a_new_lead_and_leaves_hers_alone(public_site, devorg,
                                                                                        sign_in):
    app, victim = public_site
    before = devorg.get("Lead", victim)
    assert _post(app.test_client(), "/f/materials_request", ATTACK) == 303
    _settle(app)
    after = devorg.get("Lead", victim)
    assert {f: after[f] for f in WATCHED} == {f: before[f] for f in WATCHED}
    assert after["SystemModstamp"] == before["SystemModstamp"]  # not even touched
    (new_lead,) = [lead for lead in devorg.records("Lead") if lead["Id"] != victim]
    assert (new_lead["Email"], new_lead["LastName"]) == ("attacker@evil.example", "偽者")
    (sub,) = submissions(app)
    assert (sub.person_id, sub.resolution) == (new_lead["Id"], "unverified:phone")
    assert victim not in _enrolled(app)
    mails = _mails(app)
    assert mails and all(person != victim for _to, person in mails)
    assert ("attacker@evil.example", victim) not in mails
    # The office sees the look-alike pair for review (merge in Salesforce, or dismiss).
    admin = sign_in("admin", app.test_client())
    listed = admin.get("/forms/admin/materials_request/submissions").get_data(as_text=True)
    assert "既存のお客様と一致する項目があります" in listed and "/admin/reports/data-quality" in listed
    page = admin.get("/admin/reports/data-quality").get_data(as_text=True)
    assert f'data-pair="{victim},{new_lead["Id"]}"' in page or f'data-pair="{new_lead["Id"]},{victim}"' in page


def test_the_same_entry_through_the_customer_s_signed_link_updates_her_lead(public_site, devorg):
    app, victim = public_site
    with app.test_request_context():
        path = signed_form_url("materials_request", victim).removeprefix("http://localhost")
    moved = {**VICTIM, "LastNameKana__c": "さとう", "FirstNameKana__c": "はなこ", "Email": "hanako.new@example.jp",
             "PostalCode": "530-0001", "State": "大阪府", "City": "大阪市北区", "Street": "梅田1-1"}
    moved.pop("Company")
    assert _post(app.test_client(), path, {**moved, "t": path.split("t=", 1)[1]}) == 303
    _settle(app)
    assert [lead["Id"] for lead in devorg.records("Lead")] == [victim]
    lead = devorg.get("Lead", victim)
    assert (lead["Email"], lead["City"], lead["Street"]) == ("hanako.new@example.jp", "大阪市北区", "梅田1-1")
    (sub,) = submissions(app)
    assert (sub.person_id, sub.resolution) == (victim, "chosen")
    assert victim in _enrolled(app)
    assert ("hanako.new@example.jp", victim) in _mails(app)
