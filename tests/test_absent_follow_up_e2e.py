"""The customer's story end to end, on the real stack and the real processes' code.

A field rep sets a visit Task's Visit_Result__c to 不在 in Salesforce (the dev org, as a person edits
it) → tsunagi hears of it (an Outbound Message to the web server, or the next poll cycle) → the
shipped absent follow-up automation fires → the mail reaches a real SMTP server exactly once → a
Task logging the follow-up, and one logging the mail, land in Salesforce through the write-back queue.

Everything runs as in production: the web app served over HTTP, a worker loop in a thread claiming
work from the database, the clock's scheduler enqueueing periodic jobs; only the time zone window of
the shipped example is widened so the test passes at any hour (windows have their own tests).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from salesforce import gateway_for
from work.clock import build_scheduler
from work.worker import run_worker

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parent.parent / "automations" / "examples" / "absent_follow_up.yaml"
POLL_SECONDS = 2


@pytest.fixture
def stack(make_app, devorg, smtp_sink, live_server, tmp_path) -> Iterator[dict]:
    """The app on the dev org and an SMTP sink, its web server, one worker and (optionally) the clock."""
    app = make_app(**devorg.app_settings(), smtp_url=smtp_sink.url, sync_interval_seconds=POLL_SECONDS,
                   worker_idle_sleep_seconds=0.05, mail_tracking=False,
                   forms_visit_undo_seconds=0)  # no undo window: the visit Task is written at once
    runner = app.test_cli_runner()
    assert runner.invoke(args=["forms", "load-examples"]).exit_code == 0
    document = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    for automation in document["automations"]:
        automation.pop("window", None)
    example = tmp_path / "absent.yaml"
    example.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    loaded = runner.invoke(args=["automations", "load", str(example)])
    assert loaded.exit_code == 0, loaded.output

    contact = devorg.insert("Contact", LastName="山田", FirstName="花子", Email="hanako@example.jp",
                            HasOptedOutOfEmail=False)
    task = devorg.insert("Task", Subject="定期訪問", Status="Completed", WhoId=contact)
    assert runner.invoke(args=["sync", "run", "--once"]).exit_code == 0  # the mirror knows both

    server = live_server(app)
    stop = threading.Event()
    worker = threading.Thread(target=run_worker, args=(app, stop, "e2e-worker"), daemon=True)
    worker.start()
    clocks = []

    def start_clock() -> None:
        scheduler = build_scheduler(app)
        clocks.append(scheduler)
        threading.Thread(target=scheduler.start, daemon=True).start()

    yield {"app": app, "server": server, "contact": contact, "task": task, "start_clock": start_clock}
    for scheduler in clocks:
        scheduler.shutdown(wait=False)
    stop.set()
    worker.join(timeout=10)


def _mark_absent(devorg, task: str) -> float:
    devorg.update("Task", task, Visit_Result__c="不在")
    return time.monotonic()


def _wait_for_tasks(devorg, who: str, count: int, timeout: float = 20.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        logged = [t for t in devorg.records("Task") if t.get("WhoId") == who and t["Subject"] != "定期訪問"]
        if len(logged) >= count or time.monotonic() > deadline:
            return logged
        time.sleep(0.2)


def _assert_one_revisit_mail(smtp_sink) -> None:
    [mail] = smtp_sink.wait_for(1)
    assert mail.rcpt_tos == ["hanako@example.jp"]
    assert "山田 様" in mail.message["Subject"]
    body = mail.message.get_body(("plain",)).get_content()
    assert "/f/revisit_booking" in body or "revisit_booking" in body or "再訪問" in body


def test_outbound_message_mails_the_customer_within_seconds_exactly_once(stack, devorg, smtp_sink):
    devorg.add_outbound_rule("Task", "Visit_Result__c = '不在'", ["Subject", "WhoId", "Visit_Result__c"],
                             stack["server"].url + "/webhooks/salesforce/outbound")
    started = _mark_absent(devorg, stack["task"])
    smtp_sink.wait_for(1, timeout=10)
    elapsed = time.monotonic() - started
    assert elapsed < 5, f"mail took {elapsed:.1f} s after the Outbound Message"
    assert devorg.wait_outbound_idle(10)
    assert all(entry["acked"] for entry in devorg.outbound_log())
    # The next poll sees the same change again; it must not become a second mail.
    assert stack["app"].test_cli_runner().invoke(args=["sync", "run", "--once"]).exit_code == 0
    time.sleep(1.5)
    assert len(smtp_sink.messages) == 1
    _assert_one_revisit_mail(smtp_sink)
    stack["start_clock"]()  # the clock enqueues mail.log_tasks: the sent mail is logged as a Task
    logged = _wait_for_tasks(devorg, stack["contact"], 2)
    subjects = sorted(t["Subject"] for t in logged)
    assert "不在フォローメール送信" in subjects
    assert any(s.startswith("メール: ") for s in subjects), subjects
    assert len(subjects) == 2


def test_a_rep_tapping_absent_on_tsunagi_s_visit_screen_mails_the_customer_once(stack, devorg, smtp_sink,
                                                                                  sign_in):
    import re

    sales = sign_in("sales", client=stack["app"].test_client())
    contact = stack["contact"]
    page = sales.get(f"/forms/visit/{contact}").get_data(as_text=True)  # tap 1
    token = re.search(r'name="_token" value="([^"]+)"', page).group(1)
    answer = sales.post(f"/forms/visit/{contact}", data={"_token": token, "Visit_Result__c": "不在"})  # tap 2
    assert answer.status_code == 303
    smtp_sink.wait_for(1, timeout=15)
    visits = [t for t in devorg.records("Task") if t.get("Visit_Result__c") == "不在"]
    assert [t["WhoId"] for t in visits] == [contact]  # the visit itself landed in Salesforce, once
    assert stack["app"].test_cli_runner().invoke(args=["sync", "run", "--once"]).exit_code == 0
    time.sleep(1.5)
    assert len(smtp_sink.messages) == 1
    _assert_one_revisit_mail(smtp_sink)


def test_polling_alone_mails_the_customer_within_one_poll_interval(stack, devorg, smtp_sink):
    stack["start_clock"]()
    time.sleep(0.5)
    started = _mark_absent(devorg, stack["task"])
    # `sobjects/X/updated` lists a change once the org's clock has passed its minute: a minute passes
    # in the org, and the gateway hears the org's new time (in real time its estimate moves by itself).
    devorg.set_clock_offset(timedelta(minutes=1, seconds=1))
    gateway_for(stack["app"]).limits()
    smtp_sink.wait_for(1, timeout=POLL_SECONDS + 10)
    elapsed = time.monotonic() - started
    # One poll interval, plus the cycle itself and the worker's short idle sleeps.
    assert elapsed < POLL_SECONDS + 4, f"mail took {elapsed:.1f} s with polling every {POLL_SECONDS} s"
    time.sleep(POLL_SECONDS * 2)  # two more cycles re-read the overlap window
    assert len(smtp_sink.messages) == 1
    _assert_one_revisit_mail(smtp_sink)
    logged = _wait_for_tasks(devorg, stack["contact"], 1)
    assert "不在フォローメール送信" in [t["Subject"] for t in logged]
