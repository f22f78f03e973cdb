"""`flask automations load / export / load-examples` and the shipped examples."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import yaml
from sqlalchemy import select

import db as dbmod
from tests.automations.helpers import TOKYO, history, outbox, run, tokyo, upsert, writebacks


def _automations(app):
    from automations.models import Automation

    with dbmod.get_db(app).transaction() as session:
        return {a.key: (a.enabled, a.version) for a in session.scalars(select(Automation))}


def test_load_examples_is_idempotent_and_enables_the_three_stories(app, runner):
    first = runner.invoke(args=["automations", "load-examples", "--enable"])
    assert first.exit_code == 0, first.output
    loaded = _automations(app)
    assert {"absent-follow-up", "materials-request", "campaign-countdown-3", "campaign-countdown-today"} <= set(loaded)
    assert all(enabled for enabled, _ in loaded.values())
    again = runner.invoke(args=["automations", "load-examples", "--enable"])
    assert again.exit_code == 0
    assert _automations(app) == loaded


def test_export_then_load_round_trips(app, runner, tmp_path):
    runner.invoke(args=["automations", "load-examples", "--enable"])
    exported = runner.invoke(args=["automations", "export"])
    assert exported.exit_code == 0
    document = yaml.safe_load(exported.output)
    assert {a["key"] for a in document["automations"]} >= {"absent-follow-up", "materials-request"}
    path = tmp_path / "export.yaml"
    path.write_text(exported.output, encoding="utf-8")
    before = _automations(app)
    result = runner.invoke(args=["automations", "load", str(path)])
    assert result.exit_code == 0, result.output
    assert _automations(app) == before  # same documents: no new version


def test_load_reports_every_problem_with_its_place_and_changes_nothing(app, runner, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("""
automations:
  - key: ok-one
    name: ok
    trigger: {type: manual}
    actions: [{type: send_mail, template: t}]
  - key: Bad Key
    trigger: {type: field_changed, object: Task}
    window: {start: "21:00", end: "09:00"}
    steps: [{wait: {days: -1}, actions: [{type: explode}]}]
""", encoding="utf-8")
    result = runner.invoke(args=["automations", "load", str(path)])
    assert result.exit_code == 2
    for place in ("automations[1]", "key", "trigger.field", "window", "steps[0].wait.days", "steps[0].actions[0].type"):
        assert place in result.output
    assert _automations(app) == {}


def test_load_reports_a_yaml_syntax_error_with_its_line(runner, tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("automations:\n  - key: [unclosed\n", encoding="utf-8")
    result = runner.invoke(args=["automations", "load", str(path)])
    assert result.exit_code == 2
    assert "YAML" in result.output and "3:" in result.output


def test_the_shipped_absent_follow_up_mails_a_signed_booking_link_and_logs_a_task(app, runner):
    from forms.links import read_token

    runner.invoke(args=["automations", "load-examples", "--enable"])
    owner = upsert(app, "User", Name="田中 営業", Email="tanaka@example.jp")
    contact = upsert(app, "Contact", LastName="山田", Email="yamada@example.jp", OwnerId=owner)
    task = upsert(app, "Task", WhoId=contact, OwnerId=owner, Subject="訪問", Visit_Result__c=None)
    upsert(app, "Task", Id=task, Visit_Result__c="不在")
    run(app, tokyo(2026, 11, 24, 15, 0))
    [mail] = outbox(app)
    assert (mail.to_address, mail.template_key) == ("yamada@example.jp", "absent-revisit")
    link = mail.context["links"]["booking"]
    assert urlparse(link).path == "/f/revisit_booking"
    with app.test_request_context():
        assert read_token(parse_qs(urlparse(link).query)["t"][0], "revisit_booking") == contact
    [logged] = writebacks(app, "Task")
    assert logged.fields["WhoId"] == contact and logged.fields["OwnerId"] == owner


def test_the_shipped_materials_sequence_sends_six_mails_in_about_a_month(app, runner):
    from activity.record import record_activity
    runner.invoke(args=["automations", "load-examples", "--enable"])
    lead = upsert(app, "Lead", LastName="佐藤", Email="sato@example.jp")
    start = tokyo(2026, 11, 24, 12, 0)
    with dbmod.get_db(app).transaction() as session:
        record_activity(session, "form_submit", person_id=lead, details={"form": "materials_request"},
                        occurred_at=start)
    run(app, start)
    for offset in range(1, 36):
        for hour in (9, 10, 12, 19):
            run(app, tokyo(2026, 11, 24, hour) + timedelta(days=offset))
    mails = outbox(app)
    assert [m.template_key for m in mails] == [
        "materials-thanks", "materials-arrived", "materials-weekly-menu", "materials-voices", "materials-trial",
        "materials-last-call"]
    sent_on = [h.occurred_at.astimezone(TOKYO) for h in history(app, "sent")]
    assert len(sent_on) == 6
    assert all(t.weekday() < 5 and 9 <= t.hour < 20 for t in sent_on)
    first_two_weeks = [t for t in sent_on if t < sent_on[0] + timedelta(days=14)]
    assert len(first_two_weeks) == 5
    assert sent_on[-1] - sent_on[0] <= timedelta(days=35)
