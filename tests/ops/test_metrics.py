"""GET /metrics: Prometheus text with queue depths, job and work throughput, Salesforce calls, sync lag."""

from __future__ import annotations

import re

import db
from sync.cycle import run_cycle
from tests.sync.test_cycle import time_passes
from work import queue, register_job_handler
from work.worker import run_jobs

TOKEN = "scrape-token-123"


def scrape(client) -> str:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return response.get_data(as_text=True)


def value(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = rf"^{re.escape(name)}{re.escape('{' + wanted + '}') if labels else ''} ([0-9.e+-]+)$"
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def total(text: str, name: str, **labels: str) -> float:
    """The sum of every series of `name` whose labels include `labels`."""
    found = 0.0
    for series, number in re.findall(rf"^{re.escape(name)}\{{([^}}]*)\}} ([0-9.e+-]+)$", text, re.MULTILINE):
        if all(f'{k}="{v}"' in series.split(",") for k, v in labels.items()):
            found += float(number)
    return found


def test_metrics_are_off_without_a_token_and_need_it_when_on(make_app):
    assert make_app().test_client().get("/metrics").status_code == 404
    client = make_app(metrics_token=TOKEN).test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_queue_depths_and_job_throughput(make_app):
    app = make_app(metrics_token=TOKEN)
    client = app.test_client()
    register_job_handler(app, "test.ok", lambda payload: None)
    register_job_handler(app, "test.broken", lambda payload: 1 / 0)
    with db.get_db(app).transaction() as session:
        for _ in range(3):
            queue.enqueue(session, "test.ok")
        queue.enqueue(session, "test.broken")
        queue.enqueue(session, "unhandled.kind")
    before = scrape(client)
    assert value(before, "tsunagi_queue_depth", queue="jobs") == 5
    assert value(before, "tsunagi_database_up") == 1

    run_jobs(app, "metrics-worker")

    after = scrape(client)
    assert value(after, "tsunagi_queue_depth", queue="jobs") == 2  # the failed one waits for its retry
    assert value(after, "tsunagi_jobs_total", kind="test.ok", outcome="done") - \
        value(before, "tsunagi_jobs_total", kind="test.ok", outcome="done") == 3
    assert value(after, "tsunagi_jobs_total", kind="test.broken", outcome="failed") - \
        value(before, "tsunagi_jobs_total", kind="test.broken", outcome="failed") == 1
    assert value(after, "tsunagi_job_duration_seconds_count", kind="test.ok") >= 3
    # Web requests are timed too (the scrape itself is not).
    client.get("/livez")
    timed = scrape(client)
    assert total(timed, "tsunagi_http_request_duration_seconds_count", endpoint="health.livez") - \
        total(after, "tsunagi_http_request_duration_seconds_count", endpoint="health.livez") == 1
    assert total(timed, "tsunagi_http_request_duration_seconds_count", endpoint="metrics.metrics_endpoint") == 0


def test_salesforce_calls_and_sync_lag(make_app, devorg):
    app = make_app(metrics_token=TOKEN, sync_objects=("Lead",), **devorg.app_settings(),
                   config={"SALESFORCE_GATEWAY_OPTIONS": {"max_retries": 0, "backoff_seconds": 0.01}})
    client = app.test_client()
    devorg.insert("Lead", LastName="計測", Company="個人")
    before = scrape(client)
    assert "tsunagi_sync_lag_seconds{" not in before

    run_cycle(app)
    # A minute passes on the org's clock, so the next cycle has a window to ask about.
    time_passes(app, devorg)
    devorg.inject_fault(".*", "503", count=10)
    run_cycle(app)

    after = scrape(client)
    ok = total(after, "tsunagi_salesforce_calls_total", outcome="ok") - \
        total(before, "tsunagi_salesforce_calls_total", outcome="ok")
    errors = total(after, "tsunagi_salesforce_calls_total", outcome="server_error") - \
        total(before, "tsunagi_salesforce_calls_total", outcome="server_error")
    assert ok >= 1 and errors >= 1, [line for line in after.splitlines() if "salesforce" in line]
    assert 0 <= value(after, "tsunagi_sync_lag_seconds", object="Lead") < 60


def test_work_source_items_are_counted(make_app):
    from work import register_work_source
    from work.worker import work_once

    app = make_app(metrics_token=TOKEN)
    register_work_source(app, "test.source", lambda worker_id: 7)
    before = scrape(app.test_client())
    work_once(app, "w")
    after = scrape(app.test_client())
    assert value(after, "tsunagi_work_items_total", source="test.source") - \
        value(before, "tsunagi_work_items_total", source="test.source") == 7
