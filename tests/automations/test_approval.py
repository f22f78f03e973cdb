"""Four-eyes approval of a large broadcast and test sends of automation steps, as marketers and
admins use the pages: a marketer prepares but cannot launch or approve; an admin cannot approve
what they prepared; a second admin's approval is audited; an edit voids it."""

from __future__ import annotations

from sqlalchemy import select

import db as dbmod
from automations.models import Automation, BroadcastApproval
from mail.models import MailConsent, OutboxMail
from people.models import AuditEntry, User
from tests.automations.helpers import WINTER_BROADCAST, load, rows_of, template, upsert

THRESHOLD = 3
PEOPLE = 5
BROADCAST = WINTER_BROADCAST


def _members(app, n: int = PEOPLE) -> None:
    template(app, "winter", subject="{{ person.LastName }} 様 冬のお知らせ")
    load(app, "segments:\n  - {key: all-members, name: 全員, objects: [Contact], conditions: []}\n", enable=None)
    for i in range(n):
        upsert(app, "Contact", LastName=f"会員{i}", Email=f"member{i}@example.jp")
    with dbmod.get_db(app).transaction() as session:
        for i in range(n):
            session.add(MailConsent(address=f"member{i}@example.jp", granted=True, source="import"))


def _automation(app) -> Automation:
    with dbmod.get_db(app).transaction() as session:
        row = session.scalar(select(Automation).where(Automation.key == "winter-news"))
        session.expunge(row)
        return row


def _approvals(app) -> list[BroadcastApproval]:
    return rows_of(app, BroadcastApproval)


def _approve(sign_in, app) -> None:
    """A (new) admin approves the pending request."""
    admin = sign_in("admin", client=app.test_client())
    assert admin.post("/admin/automations/winter-news/approval", data={"action": "approve"}).status_code == 303


def _prepare(client) -> None:
    assert client.post("/admin/automations/new", data={"document": BROADCAST}).status_code == 302


def _prepared(make_app, sign_in, threshold: int = THRESHOLD):
    """An app with the members and a marketer who has prepared the broadcast: (app, marketer)."""
    app = make_app(broadcast_approval_threshold=threshold)
    _members(app)
    marketer = sign_in("marketer", client=app.test_client())
    _prepare(marketer)
    return app, marketer


def _approved_and_launched(make_app, sign_in):
    """The prepared broadcast, requested, approved by a second admin and enabled: (app, marketer)."""
    app, marketer = _prepared(make_app, sign_in)
    marketer.post("/admin/automations/winter-news/approval", data={"action": "request"})
    _approve(sign_in, app)
    marketer.post("/admin/automations/winter-news/enable", data={"confirm": str(PEOPLE)})
    assert _automation(app).enabled
    return app, marketer


def _flashes(client, url: str) -> str:
    return client.get(url).get_data(as_text=True)


def test_a_marketer_prepares_cannot_launch_or_approve_and_a_second_admin_approves_then_it_launches(make_app, sign_in):
    app, marketer = _prepared(make_app, sign_in)
    response = marketer.post("/admin/automations/winter-news/enable", data={"confirm": str(PEOPLE)})
    assert response.headers["Location"].endswith("/admin/automations/winter-news/approval")
    page = _flashes(marketer, "/admin/automations/winter-news/approval")
    assert "5 人に送られます" in page and "別の管理者の承認" in page
    assert not _automation(app).enabled
    assert marketer.post("/admin/automations/winter-news/approval", data={"action": "request"}).status_code == 303
    marketer.post("/admin/automations/winter-news/approval", data={"action": "approve"})
    assert "承認できるのは管理者だけです" in _flashes(marketer, "/admin/automations/winter-news/approval")
    assert [a.status for a in _approvals(app)] == ["pending"]

    admin = sign_in("admin", client=app.test_client())
    page = admin.get("/admin/automations/winter-news/approval").get_data(as_text=True)
    assert "5 人" in page and "会員0 様 冬のお知らせ" in page  # the count and the mail preview
    assert "まだテスト送信されていません" in page
    assert admin.post("/admin/automations/winter-news/approval", data={"action": "approve"}).status_code == 303
    [approval] = _approvals(app)
    assert approval.status == "approved" and approval.recipients == PEOPLE
    with dbmod.get_db(app).transaction() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "automation.approve")).one()
        approver = session.get(User, entry.user_id)
        assert approver.role == "admin" and entry.at is not None
        assert entry.after["approved_by"] == approver.id != entry.after["requested_by"]
    response = marketer.post("/admin/automations/winter-news/enable", data={"confirm": str(PEOPLE)})
    assert response.headers["Location"].endswith("/admin/automations/winter-news")
    assert _automation(app).enabled


def test_an_admin_cannot_approve_a_broadcast_they_prepared(make_app, sign_in):
    app = make_app(broadcast_approval_threshold=THRESHOLD)
    _members(app)
    preparer = sign_in("admin", client=app.test_client())
    _prepare(preparer)
    preparer.post("/admin/automations/winter-news/approval", data={"action": "request"})
    page = preparer.get("/admin/automations/winter-news/approval").get_data(as_text=True)
    assert "自分が準備・依頼した一斉配信は承認できません" in page
    preparer.post("/admin/automations/winter-news/approval", data={"action": "approve"})
    assert [a.status for a in _approvals(app)] == ["pending"]
    assert preparer.post("/admin/automations/winter-news/enable",
                         data={"confirm": str(PEOPLE)}).headers["Location"].endswith("/approval")
    assert not _automation(app).enabled
    _approve(sign_in, app)
    assert [a.status for a in _approvals(app)] == ["approved"]


def test_an_edit_after_approval_voids_it_and_holds_the_broadcast_back(make_app, sign_in):
    app, marketer = _approved_and_launched(make_app, sign_in)
    edited = BROADCAST.replace("冬のお知らせ", "冬のお知らせ（改）")
    assert marketer.post("/admin/automations/winter-news/edit", data={"document": edited}).status_code == 302
    assert not _automation(app).enabled  # held back until approved again
    assert [a.status for a in _approvals(app)] == ["void"]
    page = marketer.get("/admin/automations/winter-news").get_data(as_text=True)
    assert "未承認" in page
    assert marketer.post("/admin/automations/winter-news/enable",
                         data={"confirm": str(PEOPLE)}).headers["Location"].endswith("/approval")
    with dbmod.get_db(app).transaction() as session:
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == "automation.approval_void")).one()


def test_a_template_edit_after_approval_voids_it_and_holds_an_enabled_broadcast_back(make_app, sign_in):
    app, marketer = _approved_and_launched(make_app, sign_in)
    response = marketer.post("/admin/mail/templates/winter", data={
        "action": "save", "name": "winter", "subject": "{{ person.LastName }} 様 冬のお知らせ（差し替え）",
        "html": "<p>{{ person.LastName }} 様</p>", "text": ""}, follow_redirects=True)
    assert "もう一度承認を受けてから開始してください" in response.get_data(as_text=True)
    assert not _automation(app).enabled
    assert [a.status for a in _approvals(app)] == ["void"]
    assert marketer.post("/admin/automations/winter-news/enable",
                         data={"confirm": str(PEOPLE)}).headers["Location"].endswith("/approval")


def test_a_broadcast_at_or_below_the_threshold_launches_without_approval(make_app, sign_in):
    app, marketer = _prepared(make_app, sign_in, threshold=PEOPLE)
    marketer.post("/admin/automations/winter-news/enable", data={"confirm": str(PEOPLE)})
    assert _automation(app).enabled


def test_a_broadcast_saved_enabled_above_the_threshold_is_kept_disabled(make_app, sign_in):
    app = make_app(broadcast_approval_threshold=THRESHOLD)
    _members(app)
    marketer = sign_in("marketer", client=app.test_client())
    response = marketer.post("/admin/automations/new", data={"document": BROADCAST + "enabled: true\n"})
    assert response.status_code == 302
    assert not _automation(app).enabled


def test_a_step_test_send_is_listed_on_the_approval_screen_and_never_mails_the_members(make_app, sign_in):
    app, marketer = _prepared(make_app, sign_in)
    detail = marketer.get("/admin/automations/winter-news").get_data(as_text=True)
    assert "テスト送信" in detail and 'value="0.0"' in detail
    response = marketer.post("/admin/automations/winter-news/test-send",
                             data={"step": "0.0", "to": "tester@example.jp", "sample": "会員1"})
    assert response.status_code == 302
    with dbmod.get_db(app).transaction() as session:
        [mail] = session.scalars(select(OutboxMail)).all()
        assert (mail.to_address, mail.origin, mail.origin_ref) == ("tester@example.jp", "test",
                                                                   "automation:winter-news/0.0")
        assert mail.context["person"]["LastName"] == "会員1" and mail.person_id is None
    admin = sign_in("admin", client=app.test_client())
    page = admin.get("/admin/automations/winter-news/approval").get_data(as_text=True)
    assert "tester@example.jp" in page and "まだテスト送信されていません" not in page
    bad = marketer.post("/admin/automations/winter-news/test-send", data={"step": "9.9", "to": "tester@example.jp"})
    assert bad.status_code == 400 and "ステップを選んでください" in bad.get_data(as_text=True)


def test_roles_on_the_approval_and_test_send_pages(make_app, sign_in):
    app = make_app(broadcast_approval_threshold=THRESHOLD)
    _members(app)
    _prepare(sign_in("marketer", client=app.test_client()))
    assert app.test_client().get("/admin/automations/winter-news/approval").status_code == 302
    for role in ("operator", "sales"):
        client = sign_in(role)
        assert client.get("/admin/automations/winter-news/approval").status_code == 403
        assert client.post("/admin/automations/winter-news/approval", data={"action": "approve"}).status_code == 403
        assert client.post("/admin/automations/winter-news/test-send", data={"step": "0.0"}).status_code == 403
    marketer = sign_in("marketer", client=app.test_client())
    assert marketer.get("/admin/automations/winter-news/approval").status_code == 200
    assert sign_in("admin", client=app.test_client()).post("/admin/automations/winter-news/approval",
                                 data={"action": "nonsense"}).status_code == 400


def test_approval_posts_without_a_csrf_token_are_refused(make_app):
    app = make_app(config={"WTF_CSRF_ENABLED": True}, broadcast_approval_threshold=THRESHOLD)
    _members(app)
    load(app, "automations:\n  - " + BROADCAST.replace("\n", "\n    ").rstrip() + "\n", enable=None)
    client = app.test_client()
    assert client.post("/admin/automations/winter-news/approval", data={"action": "approve"}).status_code == 400
    assert client.post("/admin/automations/winter-news/test-send", data={"step": "0.0"}).status_code == 400


def test_when_the_dry_run_is_capped_the_segment_count_decides_and_is_shown(make_app, sign_in, monkeypatch):
    from automations import dryrun

    monkeypatch.setattr(dryrun, "SCAN_LIMIT", 3)  # the dry run sees 3 of the 5 members
    app = make_app(broadcast_approval_threshold=4)
    _members(app)
    marketer = sign_in("marketer", client=app.test_client())
    _prepare(marketer)
    response = marketer.post("/admin/automations/winter-news/enable", data={"confirm": "3"})
    assert response.headers["Location"].endswith("/approval")
    assert not _automation(app).enabled
    page = marketer.get("/admin/automations/winter-news/approval").get_data(as_text=True)
    assert "セグメントの人数: 5 人" in page
