"""`flask --app app devorg serve | seed | reset`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests

from devorg.org import DevOrg

pytestmark = pytest.mark.db_independent
ROOT = Path(__file__).resolve().parents[2]


def _seed(make_app, folder: Path, size: int) -> dict:
    runner = make_app(devorg_dir=str(folder)).test_cli_runner()
    result = runner.invoke(args=["devorg", "seed", "--size", str(size)])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def test_seed_is_deterministic_japanese_co_op_data(make_app, tmp_path):
    counts = _seed(make_app, tmp_path / "a", 100)
    # Members are 60 % of the people; converted hot leads add their Contacts.
    assert counts["Contact"] == 60 + counts.get("converted_leads", 0) and counts["Lead"] == 40
    assert counts["Campaign"] == 5
    _seed(make_app, tmp_path / "b", 100)
    first, second = DevOrg(tmp_path / "a"), DevOrg(tmp_path / "b")
    try:
        people = [(c["Name"], c["LastNameKana__c"], c["MailingPostalCode"], c["Phone"])
                  for c in first.records("Contact")]
        assert people == [(c["Name"], c["LastNameKana__c"], c["MailingPostalCode"], c["Phone"])
                          for c in second.records("Contact")]
        assert all(kana and all("ァ" <= ch <= "ヶ" or ch == "ー" for ch in kana) for _n, kana, _p, _t in people)
        assert all(len(postal) == 8 and postal[3] == "-" for _n, _k, postal, _t in people)
        ending = [c for c in first.records("Campaign")
                  if c["EndDate"] == (datetime.now(first.tz).date() + timedelta(days=3)).isoformat()]
        assert len(ending) == 1
        results = {t["Visit_Result__c"] for t in first.records("Task") if t["Type"] == "Visit"}
        assert results <= {"在宅", "不在", "訪問不要"} and "不在" in results
    finally:
        first.close()
        second.close()


def test_seed_turns_some_hot_lead_hand_offs_into_won_lost_and_open_opportunities(make_app, tmp_path):
    _seed(make_app, tmp_path, 2000)  # the demo size
    org = DevOrg(tmp_path)
    try:
        handoffs = {t["WhoId"]: t for t in org.records("Task") if t["Subject"].startswith("ホットリード")}
        opportunities = org.records("Opportunity")
        assert 0 < len(opportunities) < len(handoffs)
        stages = {(o["IsClosed"], o["IsWon"]) for o in opportunities}
        assert stages == {(True, True), (True, False), (False, False)}  # won, lost and open
        campaigns = {c["Id"] for c in org.records("Campaign")}
        assert all(o["CampaignId"] in campaigns and o["Amount"] > 0 for o in opportunities)
        roles = {r["OpportunityId"]: r for r in org.records("OpportunityContactRole")}
        assert all(roles[o["Id"]]["ContactId"] == o["ContactId"] and roles[o["Id"]]["IsPrimary"]
                   for o in opportunities)
        by_id = {o["Id"]: o for o in opportunities}
        converted = [lead for lead in org.records("Lead") if lead["IsConverted"]]
        assert converted and all(lead["Status"] == "Closed - Converted" for lead in converted)
        for lead in converted:
            opportunity = by_id[lead["ConvertedOpportunityId"]]  # a real opportunity of the seed
            assert opportunity["ContactId"] == lead["ConvertedContactId"]
            assert opportunity["AccountId"] == lead["ConvertedAccountId"]
            assert lead["Id"] in handoffs and lead["ConvertedDate"] >= handoffs[lead["Id"]]["ActivityDate"]
            assert org.get("Contact", lead["ConvertedContactId"])["LastName"] == lead["LastName"]
        members = {o["ContactId"] for o in opportunities} - {lead["ConvertedContactId"] for lead in converted}
        assert members and members <= set(handoffs)  # members' own hand-offs became opportunities too
    finally:
        org.close()


def test_reset_leaves_only_the_users(make_app, tmp_path):
    _seed(make_app, tmp_path, 50)
    result = make_app(devorg_dir=str(tmp_path)).test_cli_runner().invoke(args=["devorg", "reset"])
    assert result.exit_code == 0, result.output
    org = DevOrg(tmp_path)
    try:
        assert org.records("Contact") == [] and org.records("Task") == []
        assert {u["Username"] for u in org.records("User")} == {"integration@tsunagi.dev", "person@tsunagi.dev"}
    finally:
        org.close()


@pytest.mark.slow
def test_serve_prints_one_json_line_and_writes_connection_json(tmp_path):
    env = {**os.environ, "DEVORG_DIR": str(tmp_path), "TSUNAGI_DEBUG": "1",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}", "SECRET_KEY": "x" * 40}
    process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "devorg", "serve", "--port", "0"],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = process.stdout.readline()
        started = json.loads(line)
        connection = json.loads((tmp_path / "connection.json").read_text())
        assert started["instance_url"] == connection["instance_url"]
        assert {"instance_url", "access_token", "client_id", "client_secret", "ca_bundle", "org_id",
                "login_url"} <= set(connection)
        response = requests.get(f"{connection['instance_url']}/services/data/v59.0/limits",
                                headers={"Authorization": f"Bearer {connection['access_token']}"},
                                verify=connection["ca_bundle"], timeout=10)
        assert response.status_code == 200
        assert (tmp_path / "connection.json").stat().st_mode & 0o077 == 0
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert process.returncode == 0


def test_data_survives_a_restart(tmp_path):
    org = DevOrg(tmp_path)
    contact = org.insert("Contact", LastName="永続", Absent__c=True)
    org.delete("Contact", org.insert("Contact", LastName="削除済み"))
    org_id, secret = org.org_id, org.client_secret
    org.close()
    again = DevOrg(tmp_path)
    try:
        assert again.get("Contact", contact)["Absent__c"] is True
        assert [c["LastName"] for c in again.records("Contact", include_deleted=True)] == ["永続", "削除済み"]
        assert (again.org_id, again.client_secret) == (org_id, secret)
        assert again.insert("Contact", LastName="次") > contact
    finally:
        again.close()

