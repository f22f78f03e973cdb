"""Every page, as each role opens it: times in TSUNAGI_TIMEZONE, statuses in Japanese, people by name.

The walk seeds one row (or a few) into every list — sent, queued and skipped mail, form submissions,
automation history (fired, not entered), a score, sync runs, a failed write-back, a suppression, a
dev-inbox message, a webhook notification, the dev org — all stamped at one instant, AT (UTC), then
opens every GET page of `app.url_map` (building the path parameters from the seeded ids) and reads
what a person sees: the text of the page without tags, attributes, scripts, YAML boxes or `<code>`
(ids are looked for in `<code>` too).

A page fails when it shows
- a machine timestamp (ISO `T`, `+00:00`, microseconds) or AT as UTC wall-clock time ("UTC" shown);
- a raw internal code (`queued`, `not_entered`, `field_changed`, …) where Japanese words belong;
- the Salesforce id of a seeded person whose name the page could have shown instead.
Every failing page is listed at once, so one run says everything that is left to fix.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import lxml.html
import pytest
from sqlalchemy import update

import db
from db import utcnow
from tests.persons.seed import mail, seed_person
from tests.scoring.people import add_records, contact_id, lead_id

# The seed's instant: 2026-11-20 23:30:15.123456 UTC is 2026-11-21 08:30 in Tokyo.
AT = datetime(2026, 11, 20, 23, 30, 15, 123456, tzinfo=UTC)
UTC_WALL_CLOCK = "2026-11-20 23:30"

ISO_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}|[+-]00:?00\b|\d{2}:\d{2}:\d{2}\.\d{3,6}")
# Internal codes that must never be what a person reads (they may stay in attributes and CSV).
RAW_CODES = (
    # outbox, work queues, write-back and submissions
    "queued", "running", "sending", "sent", "bounced", "skipped", "failed", "pending", "active", "written",
    "discarded", "withdrawn",
    "no_consent", "hard_bounce", "soft_bounces", "unsubscribe_page", "one_click",
    # automations
    "fired", "not_entered", "planned", "exited", "finished", "field_changed", "record_created",
    "form_submitted", "date_relative", "score_threshold",
    # write-back operations, forms' audiences and modes
    "create", "update", "upsert", "operator", "public", "match_then_update_or_create",
    # sync runs, hot-lead hand-offs
    "ok", "busy", "quota", "no-owner-mail", "no-template",
    # scoring (Rating picklist values seen through forms)
    "Hot", "Warm", "Cold",
)
RAW_CODE = re.compile(r"(?<![\w./@:-])(" + "|".join(RAW_CODES) + r")(?![\w/@-])")
# Elements whose text is code or data the admin edits, not the page's own words.
NOT_PROSE = ("script", "style", "textarea", "code", "pre", "template")
# Not pages: static files, images, JSON APIs, downloads, probes and metrics (and any rule taking a signed
# `<token>`: public links to a person's own mail, tested where they are made).
SKIPPED = re.compile(r"^/(static|favicon|metrics|healthz|livez|readyz|m/|u/|t/)|/api/|\.csv$|\.yaml$|\.gif$"
                     r"|/status$")


# AT in Tokyo, and the seeded people's names: shown where the seed put rows (so no page passes empty).
LOCAL = "2026-11-21 08:30"
MUST_SHOW = {
    "/admin/mail/inbox": [LOCAL], "/admin/mail/suppressions": [LOCAL, "宛先不明（ハードバウンス）"],
    "/admin/mail/templates": [LOCAL], "/admin/sync": [LOCAL, "成功", "失敗"], "/admin/reports/sync": [LOCAL],
    "/admin/writeback": [LOCAL], "/admin/webhooks": [LOCAL], "/admin/audit": [LOCAL],
    "/admin/automations/absent-follow-up": ["2026-11-21 08:30:15", "開始", "対象外", "山田 花子"],
    "/forms/admin/trial_set/submissions": [LOCAL, "書き込み待ち", "高い", "山田 花子"],
    "/admin/reports/data-quality": ["山田 花子", "鈴木 次郎"], "/admin/scoring": ["佐藤 一郎", "山田 花子"],
    "/devorg/": ["再送待ち"],
}


def visible_text(html: str, keep: tuple[str, ...] = ()) -> str:
    """What a person reads: text outside tags, attributes, scripts and code/YAML boxes (but `keep`)."""
    doc = lxml.html.fromstring(html)
    for element in list(doc.iter(*(tag for tag in NOT_PROSE if tag not in keep))):
        if element.getparent() is not None:  # not already gone with a dropped ancestor
            element.drop_tree()
    return " ".join(" ".join(doc.itertext()).split())  # a space between cells: codes stay words


def problems(text: str, named_ids: dict[str, str], *, check_ids: bool = True, id_text: str | None = None) -> list[str]:
    """What is wrong with one page's visible text (empty when nothing); ids are looked for in `id_text`
    (the text with `<code>` kept: an id set as code is still an id instead of a name)."""
    found = []
    if (m := ISO_TIMESTAMP.search(text)) is not None:
        found.append(f"ISO timestamp {text[max(m.start() - 20, 0):m.end() + 20]!r}")
    if UTC_WALL_CLOCK in text or re.search(r"\bUTC\b", text):
        found.append("time shown in UTC")
    codes = sorted(set(RAW_CODE.findall(text)))
    if codes:
        found.append(f"raw codes {codes}")
    if check_ids:
        id_text = text if id_text is None else id_text
        shown = [sf_id for sf_id in named_ids if re.search(rf"\b({sf_id}|{sf_id[:15]})\b", id_text)]
        if shown:
            found.append(f"Salesforce ids instead of names {shown}")
    return found


def seed(app: Any, devorg: Any) -> dict[str, Any]:
    """One or more rows in every list the pages show; returns the ids the paths need."""
    from automations.models import Automation, AutomationRun
    from automations.service import load_examples as load_automation_examples
    from automations.service import save_automation, save_segment
    from forms.models import Submission
    from mail.models import DevInboxMessage, MailTemplate, Suppression
    from people.models import AuditEntry
    from people.service import create_user
    from salesforce.models import ApiCallHour, ObjectDescribe
    from scoring.models import PersonScore, ScoreHistory, ScoreThresholdCrossed
    from sync.models import MirrorRecord, SyncObject, SyncRun
    from tests.forms.conftest import load_examples as load_form_examples
    from webhooks.models import OutboundNotification
    from writeback.models import WritebackItem

    load_form_examples(app)
    with db.get_db(app).transaction() as session:
        hanako = seed_person(session)
        ichiro = contact_id(2)
        # A likely duplicate of 花子 and a Lead with a broken address, for the data-quality lists.
        add_records(session, "Lead", {"Id": lead_id(3), "LastName": "山田", "FirstName": "花子",
                                      "Email": "hanako@example.jp", "Phone": "03-1234-5678", "Company": "生協テスト"},
                    {"Id": lead_id(4), "LastName": "鈴木", "FirstName": "次郎", "Email": "jiro@", "Company": "個人"})
        load_automation_examples(session)
        mail(session, 10, ichiro, "ichiro@example.jp", "queued")
        mail(session, 11, hanako, "hanako@example.jp", "bounced")
        automation = session.query(Automation).filter_by(key="absent-follow-up").one()
        for outcome in ("fired", "not_entered", "sent", "skipped", "exited", "finished"):
            session.add(AutomationRun(automation_id=automation.id, record_id="00T000000000000001",
                                      person_id=hanako, outcome=outcome, reason="", occurred_at=AT))
        session.add(AutomationRun(automation_id=automation.id, record_id=ichiro, person_id=ichiro, outcome="fired",
                                  occurred_at=AT))  # a trigger on the person's own record
        session.add(PersonScore(person_id=ichiro, object_name="Contact", score=120, stage="導入検討"))
        session.add(ScoreHistory(person_id=ichiro, score_before=90, score_after=120, reason="フォーム送信 +30",
                                 changed_at=AT))
        session.add(ScoreThresholdCrossed(person_id=ichiro, threshold="hot_lead", crossing_no=1, score=120,
                                          crossed_at=AT, handoff="mail,task,no-owner-mail"))
        session.add(ApiCallHour(hour=utcnow().replace(minute=0, second=0, microsecond=0), calls=3))
        session.add(SyncRun(started_at=AT, finished_at=AT + timedelta(seconds=3), outcome="ok", api_calls=2,
                            records=5))
        session.add(SyncRun(started_at=AT - timedelta(minutes=1), finished_at=AT, outcome="failed",
                            api_calls=1, records=0, error="接続できません"))
        session.add(SyncObject(object_name="Lead", last_cycle_at=AT, last_success_at=AT))
        session.add(ObjectDescribe(object_name="Lead", fields={"Id": {"type": "id"}}, described_at=AT))
        item = WritebackItem(idempotency_key="walk/1", object_name="Lead", operation="update", record_id=hanako,
                             fields={"Rating": "Hot"}, status="failed", error_code="FIELD_CUSTOM_VALIDATION_EXCEPTION",
                             error_message="入力規則エラー", created_at=AT, due_at=AT)
        session.add(item)
        session.add(Suppression(address="bounced@example.jp", reason="hard_bounce", person_id=hanako, source="smtp",
                                created_at=AT))
        session.add(Suppression(address="gone@example.jp", reason="unsubscribe", source="one_click", created_at=AT))
        session.add(DevInboxMessage(received_at=AT, mail_from="noreply@example.jp", recipients=["hanako@example.jp"],
                                    subject="ようこそ", message_id="<walk@example.jp>",
                                    raw=b"Subject: =?utf-8?b?44KI44GG44GT44Gd?=\r\n\r\nbody\r\n"))
        session.add(OutboundNotification(notification_id="04l000000000001", organization_id="00D000000000001",
                                         object_name="Lead", record_id=hanako, fields={}, raw="<x/>",
                                         received_at=AT, status="queued", due_at=AT))
        session.add(OutboundNotification(notification_id="04l000000000002", organization_id="00D000000000001",
                                         object_name="Lead", record_id=hanako, fields={}, raw="<x/>",
                                         received_at=AT, status="failed", due_at=AT, last_error="接続できません"))
        for n, status in enumerate(("pending", "written", "failed", "discarded")):
            session.add(Submission(idempotency_key=f"walk-{n}", form_key="trial_set", data={
                "LastName": "山田", "FirstName": "花子", "Rating": "Hot"}, person_id=hanako, status=status,
                error_message="入力規則エラー" if status == "failed" else None, created_at=AT, updated_at=AT))
        segment = save_segment(session, {"key": "tokyo", "name": "東京のリード", "objects": ["Lead"],
                                         "conditions": [{"field": "State", "op": "eq", "value": "東京都"}]})
        template_key = session.query(MailTemplate.key).first()[0]
        # A broadcast (the pages some automations have only when they mail a segment at once).
        broadcast, _created = save_automation(session, {
            "key": "winter-news", "name": "冬のお知らせ",
            "trigger": {"type": "broadcast", "segment": segment.key, "at": "2027-01-10T09:00:00+09:00"},
            "steps": [{"name": "お知らせ", "actions": [{"type": "send_mail", "template": template_key}]}]})
        session.execute(update(MailTemplate).values(updated_at=AT))
        session.execute(update(MirrorRecord).values(last_seen_at=AT, first_seen_at=AT))
        session.add(AuditEntry(at=AT, action="user.create", target="walk@example.jp", before=None,
                               after={"role": "admin"}))
        session.flush()
        user_id = (create_user(session, "walk-user@example.jp", "sales", "correct horse battery").id,)
        ids = {"hanako": hanako, "ichiro": ichiro, "automation": automation.key, "item": item.id,
               "segment": segment.key, "template": template_key,
               "user": user_id[0] if user_id else None, "submission": None,
               # Routes whose <key> must name a particular kind of row.
               "endpoint_keys": {"automations.segment": segment.key, "automations.approval": broadcast.key}}
    # An Outbound Message to nowhere: the dev org's page lists the failed delivery with its time.
    devorg.add_outbound_rule("Lead", "Rating = 'Hot'", ["Id", "Rating"], "http://127.0.0.1:9/outbound")
    devorg_lead = devorg.insert("Lead", LastName="山田", FirstName="花子", Company="生協テスト", Rating="Hot")
    with db.get_db(app).transaction() as session:
        ids["inbox"] = session.query(DevInboxMessage.id).scalar()
        ids["submission"] = session.query(Submission.id).filter_by(status="written").scalar()
    ids["devorg_lead"] = devorg_lead
    deadline = time.monotonic() + 30
    while not devorg.outbound_log() and time.monotonic() < deadline:
        time.sleep(0.05)  # waits for a state (the attempt is logged), bounded
    assert devorg.outbound_log()
    return ids


def path_for(rule: Any, ids: dict[str, Any]) -> str | None:
    """The rule's path with its parameters taken from the seed, or None when it cannot be built."""
    values = {
        "key": {"automations": ids["automation"], "forms": "trial_set", "mail_admin": ids["template"]},
        "person_id": ids["hanako"], "sf_id": ids["hanako"], "message_id": ids["inbox"], "item_id": ids["item"],
        "user_id": ids["user"], "submission_id": ids["submission"], "object_name": "Lead",
        "record_id": ids["devorg_lead"],
    }
    blueprint = rule.endpoint.split(".")[0]
    path = rule.rule
    for name in rule.arguments:
        value = values.get(name)
        if isinstance(value, dict):
            value = value.get(blueprint)
        if name == "key" and rule.endpoint in ids["endpoint_keys"]:
            value = ids["endpoint_keys"][rule.endpoint]
        if name == "key" and rule.rule.startswith("/f/"):
            value = "materials_request"  # the public form
        if value is None:
            return None
        path = re.sub(r"<(?:[a-z]+:)?" + name + ">", str(value), path)
    return path


@pytest.fixture
def walk_app(make_app, devorg):
    return make_app(**devorg.app_settings())


def _sign_in(app, role):
    from people.service import create_user
    from tests.fixtures.app import TEST_PASSWORD

    client = app.test_client()
    with db.get_db(app).transaction() as session:
        create_user(session, f"walk-{role}@example.jp", role, TEST_PASSWORD)
    signed_in = client.post("/login", data={"email": f"walk-{role}@example.jp", "password": TEST_PASSWORD})
    assert signed_in.status_code == 302
    return client


def test_every_page_shows_local_times_japanese_statuses_and_names(walk_app, devorg):
    from people.models import ROLES

    ids = seed(walk_app, devorg)
    named = {ids["hanako"]: "山田 花子", ids["ichiro"]: "佐藤 一郎"}
    rules = sorted((r for r in walk_app.url_map.iter_rules()
                    if "GET" in r.methods and not SKIPPED.search(r.rule) and "token" not in r.arguments),
                   key=lambda r: r.rule)
    failures: dict[str, list[str]] = {}
    opened = 0

    def walk(client: Any, role: str, rules: list[Any]) -> None:
        nonlocal opened
        for rule in rules:
            path = path_for(rule, ids)
            if path is None:
                failures[rule.rule] = ["no path could be built from the seed (add its id to path_for)"]
                continue
            response = client.get(path)
            if response.status_code in (302, 403) or response.mimetype != "text/html":
                continue  # not this role's page, or not a page
            if response.status_code == 404 and role != "admin":
                continue  # another person's entry (a done page): only admins read every one
            assert response.status_code == 200, (role, path, response.status_code)
            opened += 1
            html = response.get_data(as_text=True)
            text = visible_text(html)
            # The dev org is Salesforce itself, and a person's own page states their id next to the name.
            found = problems(text, named, check_ids=not path.startswith(("/devorg/", "/people/")),
                             id_text=visible_text(html, keep=("code",)))
            if role == "admin":
                found += [f"seeded {shown!r} not shown" for shown in MUST_SHOW.get(path, []) if shown not in text]
            failures.setdefault(path, []).extend(f"{role}: {p}" for p in found
                                                 if f"{role}: {p}" not in failures.get(path, []))

    clients = {role: _sign_in(walk_app, role) for role in ROLES}
    for role in sorted(ROLES, key=lambda r: r == "admin"):  # every role, admin (who opens everything) last
        walk(clients[role], role, rules)
    # The reports again, now served from the precomputed snapshots (with their 集計時刻).
    with walk_app.app_context():
        walk_app.extensions["tsunagi.work"].job_handlers["reports.refresh"]({})
    walk(clients["admin"], "admin", [r for r in rules if r.rule.startswith("/admin/reports/")])
    assert opened > 40
    failures = {path: found for path, found in failures.items() if found}
    assert not failures, "\n".join(f"{path}: {'; '.join(found)}" for path, found in sorted(failures.items()))

@pytest.mark.db_independent
def test_the_checks_catch_what_they_are_for():
    """The detectors themselves: an ISO stamp, UTC, a raw code, an id; and not Japanese prose."""
    named = {"00Q000000000000001": "山田 花子"}
    assert problems("2026-11-20T23:30:15.123456+00:00", named)
    assert problems("2026-11-20 23:30 UTC", named)
    assert problems("状態 not_entered", named) and problems("fired", named) and problems("評価 Hot", named)
    assert problems("お客様 00Q000000000000001", named) and problems("お客様 00Q000000000000", named)
    assert not problems("別の人 00Q000000000000003", named)  # another id sharing the 15-character prefix
    assert not problems("2026-11-21 08:30 山田 花子 開始 送信済み hanako@example.jp follow_up", named)
    assert visible_text('<p title="sent">送信済み<code>sent</code><script>"queued"</script></p>') == "送信済み"


def test_times_follow_the_configured_time_zone(make_app):
    """An office in New York sets TSUNAGI_TIMEZONE: the same instant reads 18:30 there, on every kind of
    value the pages hold (a database time, an ISO string from the sync status)."""
    from mail.models import Suppression
    from sync.models import SyncRun

    app = make_app(timezone="America/New_York")
    with db.get_db(app).transaction() as session:
        session.add(Suppression(address="gone@example.jp", reason="manual", source="admin", created_at=AT))
        session.add(SyncRun(started_at=AT, finished_at=AT, outcome="ok", api_calls=1, records=1))
    admin = _sign_in(app, "admin")
    for path in ("/admin/mail/suppressions", "/admin/sync"):
        text = visible_text(admin.get(path).get_data(as_text=True))
        assert "2026-11-20 18:30" in text and LOCAL not in text and not problems(text, {}), (path, text)
