"""Submissions reach the dev org exactly once, whatever the org or the worker does meanwhile."""

from __future__ import annotations

import pytest
from sqlalchemy import select

import db as dbmod
from sync.models import MirrorRecord
from tests.forms.helpers import all_status, items, org_app, submissions, time_passes, token_of, work_until

pytestmark = pytest.mark.slow

ENTRY = {
    "LastName": "鈴木", "FirstName": "一郎", "LastNameKana__c": "すずき", "FirstNameKana__c": "いちろう",
    "Phone": "０８０−２２２２−３３３３", "PostalCode": "1000001", "State": "東京都", "City": "千代田区",
    "Street": "千代田1-1",
}


def _submit(client, **overrides):
    token = token_of(client.get("/forms/trial_set").get_data(as_text=True))
    response = client.post("/forms/trial_set", data={**ENTRY, **overrides, "_token": token, "_stage": "submit"})
    assert response.status_code == 303, response.get_data(as_text=True)
    return token


def test_a_submission_lands_in_the_org_once_and_the_mirror_shows_it_as_our_write(make_app, devorg, sign_in):
    app = org_app(make_app, devorg)
    client = sign_in("operator", app.test_client())
    token = _submit(client)
    work_until(app, all_status(app, "written"))
    leads = devorg.records("Lead")
    assert len(leads) == 1
    lead = leads[0]
    assert (lead["LastName"], lead["Phone"], lead["LastNameKana__c"]) == ("鈴木", "080-2222-3333", "スズキ")
    assert lead["LeadSource"] == "Phone Inquiry" and lead["Tsunagi_Key__c"] == f"f-{token}"
    tasks = devorg.records("Task")
    assert [(t["Subject"], t["WhoId"]) for t in tasks] == [("電話受付（お試しセット申込）", lead["Id"])]
    (sub,) = submissions(app)
    assert sub.person_id == lead["Id"]
    with dbmod.get_db(app).transaction() as session:
        mirrored = session.get(MirrorRecord, lead["Id"])
        assert mirrored is not None and mirrored.last_source == "writeback"
        assert mirrored.phone_key == "+818022223333"


@pytest.mark.parametrize("fault", ["503", "limit_exceeded"])
def test_while_the_org_refuses_submissions_wait_then_each_arrives_exactly_once(make_app, devorg, sign_in, fault):
    app = org_app(make_app, devorg)
    client = sign_in("operator", app.test_client())
    devorg.inject_fault(r"composite", fault, count=1)
    tokens = [_submit(client, Phone=f"090-1234-567{i}", LastName=f"試験{i}") for i in range(3)]
    from work.worker import work_once

    work_once(app, "test-worker")
    assert devorg.records("Lead") == []
    assert all(s.status == "pending" for s in submissions(app))
    assert {i.status for i in items(app)} <= {"queued"}
    time_passes(app)
    work_until(app, all_status(app, "written"))
    keys = sorted(lead["Tsunagi_Key__c"] for lead in devorg.records("Lead"))
    assert keys == sorted(f"f-{t}" for t in tokens)
    assert len(devorg.records("Task")) == 3


def test_a_validation_error_goes_to_the_error_queue_and_can_be_fixed_and_resent(make_app, devorg, sign_in):
    from writeback.service import resend

    app = org_app(make_app, devorg)
    client = sign_in("operator", app.test_client())
    _submit(client, FirstName="名" * 60)  # the org allows 40; describe was never refreshed here
    work_until(app, all_status(app, "failed"))
    (sub,) = submissions(app)
    assert "STRING_TOO_LONG" in sub.error_message
    assert devorg.records("Lead") == []
    admin = sign_in("admin", app.test_client())
    page = admin.get("/forms/admin/trial_set/submissions?status=failed").get_data(as_text=True)
    assert "STRING_TOO_LONG" in page and "/admin/writeback" in page
    lead_item = items(app)[0]
    with dbmod.get_db(app).transaction() as session:
        resend(session, lead_item.id, {**lead_item.fields, "FirstName": "一郎"})
    work_until(app, all_status(app, "written"))
    (lead,) = devorg.records("Lead")
    assert lead["FirstName"] == "一郎"
    assert len(devorg.records("Task")) == 1


def test_a_worker_killed_mid_write_loses_nothing_and_duplicates_nothing(make_app, devorg, sign_in, database_url):
    import os
    import signal
    import subprocess
    import sys
    import time

    app = org_app(make_app, devorg, worker_lease_seconds=2)
    client = sign_in("operator", app.test_client())
    token = _submit(client)
    settings = devorg.app_settings()
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": "test-secret-key",
           "SALESFORCE_INSTANCE_URL": settings["salesforce_instance_url"],
           "SALESFORCE_LOGIN_URL": settings["salesforce_login_url"],
           "SALESFORCE_CLIENT_ID": settings["salesforce_client_id"],
           "SALESFORCE_CLIENT_SECRET": settings["salesforce_client_secret"],
           "SALESFORCE_CA_BUNDLE": settings["salesforce_ca_bundle"],
           "SALESFORCE_ORG_ID": settings["salesforce_org_id"], "SALESFORCE_MAX_RETRIES": "0",
           "WORKER_LEASE_SECONDS": "2", "WORKER_IDLE_SLEEP_SECONDS": "0.1"}
    # The org holds the worker's write for 3 s before doing it: the worker dies while it waits,
    # so Salesforce makes the record but nobody hears the answer (a lost response).
    devorg.inject_fault(r"composite", "slow", count=1, delay=3.0)
    worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "work", "worker"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while devorg.faults.pending():
            assert worker.poll() is None, "worker exited early"
            assert time.monotonic() < deadline, "worker never sent the write"
            time.sleep(0.05)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    assert [i.status for i in items(app)] == ["running", "queued"]  # Lead claimed by the dead worker; Task waits
    deadline = time.monotonic() + 10
    while not devorg.records("Lead"):
        assert time.monotonic() < deadline, "the org never made the record"
        time.sleep(0.05)
    # After the dead worker's lease runs out another worker finishes the job.
    work_until(app, all_status(app, "written"), timeout=30)
    (lead,) = devorg.records("Lead")
    assert lead["Tsunagi_Key__c"] == f"f-{token}"
    assert len(devorg.records("Task")) == 1


def test_a_new_applicant_s_form_points_are_scored_once_their_lead_exists(make_app, devorg):
    from scoring.models import PersonScore
    from scoring.service import score_new_activity

    app = org_app(make_app, devorg)
    client = app.test_client()  # the applicant's own browser: their behaviour, so it scores
    token = token_of(client.get("/f/materials_request").get_data(as_text=True))
    answer = client.post("/f/materials_request", data={
        "_token": token, "_stage": "submit", "LastName": "鈴木", "FirstName": "一郎", "LastNameKana__c": "スズキ",
        "FirstNameKana__c": "イチロウ", "Email": "ichiro@example.jp", "PostalCode": "100-0001", "State": "東京都",
        "City": "千代田区", "Street": "千代田1-1", "_privacy": "1"})
    assert answer.status_code == 303, answer.get_data(as_text=True)
    with dbmod.get_db(app).transaction() as session:
        score_new_activity(session)  # nobody to score yet: the Lead is still being written
    work_until(app, all_status(app, "written"))
    (lead,) = devorg.records("Lead")
    with dbmod.get_db(app).transaction() as session:
        score_new_activity(session)
        score = session.get(PersonScore, lead["Id"])
        assert score is not None and score.behaviour > 0


def test_an_operator_s_entry_for_a_caller_earns_the_caller_no_behaviour_points(make_app, devorg, sign_in):
    from scoring.models import ScoreEvent
    from scoring.service import score_new_activity

    app = org_app(make_app, devorg)
    _submit(sign_in("operator", app.test_client()))
    work_until(app, all_status(app, "written"))
    (lead,) = devorg.records("Lead")
    with dbmod.get_db(app).transaction() as session:
        score_new_activity(session)
        assert list(session.scalars(select(ScoreEvent).where(ScoreEvent.person_id == lead["Id"]))) == []
