"""The admin status page, `flask mirror dump`, `flask sync status` and the admin status check."""

from __future__ import annotations

import json
from datetime import timedelta

import db
from salesforce.models import ApiCallHour, ObjectDescribe
from sync.mirror import apply_records
from sync.models import SyncObject, SyncRun


def _seed(app) -> None:
    now = db.utcnow()
    with db.get_db(app).transaction() as s:
        apply_records(s, "Lead", [
            {"Id": "00Q000000000001AAA", "SystemModstamp": "2026-11-20T10:00:00.000+0000", "LastName": "山田"},
            {"Id": "00Q000000000002AAA", "SystemModstamp": "2026-11-20T10:00:00.000+0000", "LastName": "佐藤",
             "IsDeleted": True},
        ], "poll")
        s.add(ObjectDescribe(object_name="Lead", fields={"Id": {"type": "id"}}, described_at=now))
        s.add(SyncObject(object_name="Lead", last_changed=2, consecutive_failures=1,
                         last_cycle_at=now, last_success_at=now - timedelta(seconds=90),
                         last_error="TransientError: HTTP 503"))
        hour = now.replace(minute=0, second=0, microsecond=0)
        s.add(ApiCallHour(hour=hour - timedelta(hours=1), calls=7, api_used=1200, api_max=15000))
        s.add(ApiCallHour(hour=hour, calls=3, api_used=1203, api_max=15000))


def test_status_page_shows_objects_counts_errors_and_api_usage_to_admins(app, sign_in):
    _seed(app)
    page = sign_in("admin").get("/admin/sync?lang=ja").get_data(as_text=True)
    assert "同期の状況" in page
    assert "TransientError: HTTP 503" in page
    assert "1203 / 15000" in page
    assert page.count("<rect") == 2
    assert "(+1 削除済み)" in page


def test_status_page_says_when_the_quota_guard_stopped_sync(app, sign_in):
    with db.get_db(app).transaction() as s:
        s.add(SyncRun(outcome="quota", api_calls=0, records=0, error="API usage 7600/15000 reached"))
    page = sign_in("admin").get("/admin/sync").get_data(as_text=True)
    assert "上限の設定割合に達したため" in page


def test_status_page_is_for_admins_only(app, sign_in, client):
    assert sign_in("operator").get("/admin/sync").status_code == 403
    assert client.get("/admin/sync").status_code == 302


def test_mirror_dump_prints_one_json_line_per_live_record(app):
    _seed(app)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["mirror", "dump", "Lead"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [(r["Id"], r["LastName"]) for r in lines] == [("00Q000000000001AAA", "山田")]
    every = runner.invoke(args=["mirror", "dump", "Lead", "--include-deleted"]).output.splitlines()
    assert len(every) == 2


def test_sync_status_command_prints_the_report(app):
    _seed(app)
    result = app.test_cli_runner().invoke(args=["sync", "status"])
    report = json.loads(result.output)
    lead = next(o for o in report["objects"] if o["object"] == "Lead")
    assert lead["records"] == 1 and lead["deleted"] == 1 and 89 <= lead["lag_seconds"] < 200
    assert report["calls_24h"] == 10 and report["api_max"] == 15000


def test_admin_status_reports_sync_down_after_three_failed_cycles_in_a_row(app, sign_in):
    client = sign_in("admin")
    with db.get_db(app).transaction() as s:
        s.add(SyncRun(outcome="ok", api_calls=1, records=0, started_at=db.utcnow() - timedelta(minutes=5)))
    assert client.get("/admin/status").get_json()["checks"]["sync"]["ok"] is True
    with db.get_db(app).transaction() as s:
        for n in range(3):
            s.add(SyncRun(outcome="failed", api_calls=1, records=0, error="TransientError: 503",
                          started_at=db.utcnow() - timedelta(minutes=3 - n)))
    body = client.get("/admin/status").get_json()
    assert "sync" in body["down"] and body["status"] == "degraded"
    assert "503" in body["checks"]["sync"]["error"]
