"""Admin pages: /admin/automations — list, create/edit (YAML), enable/disable, dry run, history, segments."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import db
from automations import approvals, bp, queries, review, segments, service
from automations.checks import reference_errors, with_lines
from automations.dryrun import dry_run
from automations.forms import ActionForm, YamlForm
from automations.models import Automation, AutomationRun, PlannedStep, Segment
from automations.spec import validate_automation
from config import settings_of
from config.validation import DocumentError
from people.auth import role_required
from web.headers import allow_mail_preview
from web.i18n import gettext as _

if TYPE_CHECKING:
    from reports import snapshots

NEW_AUTOMATION = """key: my-automation
name: 新しいオートメーション
trigger: {type: field_changed, object: Task, field: Visit_Result__c, to: 不在}
conditions:
  - {field: person.Email, op: is_set}
steps:
  - name: ご案内
    actions:
      - {type: send_mail, template: absent-revisit}
"""
NEW_SEGMENT = """key: tokyo-web-leads
name: 東京都のWeb流入リード
objects: [Lead]
conditions:
  - {field: State, op: eq, value: 東京都}
  - {field: LeadSource, op: eq, value: Web}
  - {field: HasOptedOutOfEmail, op: is_false}
"""


MEMBERS_PAGE = 50


def _automation_or_404(key: str) -> Automation:
    automation = db.session().scalar(queries.automation_by_key(key))
    if automation is None:
        abort(404)
    return automation


@bp.route("/")
@role_required("marketer")
def index() -> ResponseReturnValue:
    """Every automation with its state and pending steps, and every segment."""
    session = db.session()
    pending = dict(session.execute(select(PlannedStep.automation_id, func.count())
                                   .where(PlannedStep.status.in_(("queued", "running")))
                                   .group_by(PlannedStep.automation_id)).all())
    last = dict(session.execute(select(AutomationRun.automation_id, func.max(AutomationRun.occurred_at))
                                .where(AutomationRun.outcome == "fired").group_by(AutomationRun.automation_id)).all())
    automations = list(session.scalars(select(Automation).order_by(Automation.key)))
    segs = list(session.scalars(select(Segment).order_by(Segment.key)))
    return render_template("automations/index.html", automations=automations, pending=pending, last=last,
                           segments=segs, form=ActionForm())


def _edit(automation: Automation | None) -> ResponseReturnValue:
    form = YamlForm()
    errors: list[tuple[int | None, str]] = []
    if request.method == "GET":
        form.document.data = (yaml.safe_dump(service.to_document(automation), allow_unicode=True, sort_keys=False)
                              if automation is not None else NEW_AUTOMATION)
    elif form.validate_on_submit():
        session = db.session()
        try:
            doc = service.parse_yaml(form.document.data or "")
            if automation is not None and isinstance(doc, dict) and doc.get("key") != automation.key:
                raise DocumentError([_("key は変更できません（%(key)s）。", key=automation.key)])
            problems = reference_errors(session, validate_automation(doc))
            if problems:
                raise DocumentError(problems)
            saved, created = service.save_automation(session, doc,
                                                     enabled=None if automation is None else automation.enabled)
            held_back = _hold_for_approval(session, saved, created)
            session.commit()
        except DocumentError as exc:
            session.rollback()
            errors = with_lines(exc.problems, form.document.data or "")
        else:
            flash(_("作成しました。") if created else _("保存しました。"), "success")
            if held_back:
                flash(held_back, "warning")
            idle = _would_do_nothing(saved)
            if idle:
                flash(idle, "warning")
            return redirect(url_for("automations.detail", key=saved.key))
    status = 400 if request.method == "POST" else 200
    return render_template("automations/edit.html", form=form, automation=automation, errors=errors), status


def _hold_for_approval(session: Session, automation: Automation, created: bool) -> str | None:
    """After a save: void approvals the edit made stale, and keep a broadcast that now needs
    approval from being enabled (a message saying so, or None)."""
    if not created:
        approvals.void_outdated(session, automation, _("承認後に編集されたため"))
    if not (automation.enabled and approvals.is_broadcast(automation)) or approvals.started(session, automation):
        return None
    counted = approvals.count(session, automation, db.utcnow(), settings_of().timezone)
    refusal = approvals.launch_refusal(session, automation, counted)
    if refusal is None:
        return None
    service.set_enabled(session, automation, False)
    return _("一斉配信を無効にしました。") + refusal


def _would_mail_soon(automation: Automation) -> int:
    """People a date or broadcast automation would mail within a week of being enabled (the dry run's count)."""
    if automation.spec["trigger"]["type"] not in ("date_relative", "broadcast"):
        return 0  # the others wait for something to happen after they are enabled
    result = dry_run(db.session(), automation, db.utcnow(), settings_of().timezone)
    return result.mailed if result.mail is not None or result.mailed else 0


def _would_do_nothing(automation: Automation) -> str | None:
    """A warning when the saved automation would reach nobody now (by the dry run's count), else None."""
    trigger = automation.spec["trigger"]["type"]
    if trigger in ("field_changed", "form_submitted", "score_threshold", "manual"):
        return None  # they wait for something to happen: nobody now is normal
    result = dry_run(db.session(), automation, db.utcnow(), settings_of().timezone)
    if result.matched == 0:
        return _("今の時点で条件に合うレコードは 0 件です。このままでは何も起きません。"
                 "条件と項目名を確認してください。")
    if result.mailed == 0 and result.mail is not None:
        reasons = ", ".join(f"{reason}: {n}" for reason, n in result.excluded.items())
        return _("条件に合う %(n)s 件のうち、メールを送れる人は 0 人です（%(reasons)s）。", n=result.matched,
                 reasons=reasons)
    return None


@bp.route("/_help")  # "_" never starts an automation key
@role_required("marketer")
def help_page() -> ResponseReturnValue:
    """docs/automations.md, the reference of the YAML, shown to the admin who edits it."""
    path = Path(__file__).resolve().parent.parent / "docs" / "automations.md"
    if not path.is_file():
        abort(404)
    return render_template("automations/help.html", text=path.read_text(encoding="utf-8"))


@bp.route("/new", methods=["GET", "POST"])
@role_required("marketer")
def new() -> ResponseReturnValue:
    """Create an automation from YAML (created disabled unless the YAML says enabled: true)."""
    return _edit(None)


@bp.route("/<key>/edit", methods=["GET", "POST"])
@role_required("marketer")
def edit(key: str) -> ResponseReturnValue:
    """Edit an automation's YAML; invalid YAML is shown back with every error."""
    return _edit(_automation_or_404(key))


@bp.route("/<key>")
@role_required("marketer")
def detail(key: str) -> ResponseReturnValue:
    """One automation: its definition and history."""
    automation = _automation_or_404(key)
    return detail_page(automation, review.test_send_section(db.session(), automation))


def detail_page(automation: Automation, test_send: dict[str, Any] | None) -> str:
    """The detail page of `automation` with its test-send section (a fresh one, or one with errors)."""
    session = db.session()
    rows = list(session.scalars(queries.history_of_automation(automation.id)))
    document = yaml.safe_dump(service.to_document(automation), allow_unicode=True, sort_keys=False)
    would_mail = 0 if automation.enabled else _would_mail_soon(automation)
    approval = approvals.latest(session, automation) if approvals.is_broadcast(automation) else None
    approved = approvals.holds(session, automation, approval)
    return render_template("automations/detail.html", automation=automation, history=rows, document=document,
                           form=ActionForm(), would_mail=would_mail, test_send=test_send, approval=approval,
                           approved=approved,
                           needs_approval=approvals.is_broadcast(automation) and would_mail > approvals.threshold())


@bp.route("/<key>/<any(enable, disable):action>", methods=["POST"])
@role_required("marketer")
def toggle(key: str, action: str) -> ResponseReturnValue:
    """Enable or disable (audit-logged)."""
    automation = _automation_or_404(key)
    if not ActionForm().validate_on_submit():
        abort(400)
    if action == "enable" and not automation.enabled and approvals.is_broadcast(automation):
        # The launch gate: a large broadcast needs a second admin's approval of this very version.
        counted = approvals.count(db.session(), automation, db.utcnow(), settings_of().timezone)
        refusal = approvals.launch_refusal(db.session(), automation, counted)
        db.session().rollback()  # nothing of the dry run is kept
        if refusal:
            flash(refusal, "error")
            return redirect(url_for("automations.approval", key=key))
    would_mail = _would_mail_soon(automation) if action == "enable" and not automation.enabled else 0
    if would_mail and request.form.get("confirm") != str(would_mail):
        # Enabling would mail people at once: the admin confirms on the detail page, seeing how many.
        flash(_("有効にすると、今日から 7 日以内に %(n)s 人にメールを送ります。確認してから有効にしてください。",
                n=would_mail), "warning")
        return redirect(url_for("automations.detail", key=key))
    session = db.session()
    service.set_enabled(session, automation, action == "enable")
    session.commit()
    if action == "enable" and would_mail:
        flash(_("有効にしました。今日から 7 日以内に %(n)s 人にメールを送ります。", n=would_mail), "success")
    elif action == "enable":
        flash(_("有効にしました。"), "success")
    else:
        flash(_("無効にしました。予定済みのステップは送信されません。"), "success")
    index = url_for("automations.index")
    return redirect(index if request.form.get("next") == index else url_for("automations.detail", key=key))


@bp.route("/<key>/dry-run")
@role_required("marketer")
def dry_run_page(key: str) -> ResponseReturnValue:
    """Who would be affected right now, and the rendered mail for a sample record."""
    automation = _automation_or_404(key)
    page = request.args.get("page", 1, type=int) or 1
    result = dry_run(db.session(), automation, db.utcnow(), settings_of().timezone, page=page)
    db.session().rollback()  # nothing of a dry run is ever kept
    allow_mail_preview()
    return render_template("automations/dry_run.html", automation=automation, result=result)


@bp.route("/people/<person_id>")
@role_required("marketer")
def person_history(person_id: str) -> ResponseReturnValue:
    """Everything automations did (or skipped, and why) for one person or record."""
    rows = db.session().execute(queries.history_of_person(person_id)).all()
    return render_template("automations/person.html", person_id=person_id, rows=rows)


@bp.route("/segments/new", methods=["GET", "POST"])
@bp.route("/segments/<key>", methods=["GET", "POST"])
@role_required("marketer")
def segment(key: str | None = None) -> ResponseReturnValue:
    """Create or edit a segment (YAML) and see its live count and first members."""
    session = db.session()
    existing = session.scalar(select(Segment).where(Segment.key == key)) if key else None
    if key and existing is None:
        abort(404)
    form = YamlForm()
    errors: list[str] = []
    if request.method == "GET":
        form.document.data = (yaml.safe_dump(existing.spec, allow_unicode=True, sort_keys=False)
                              if existing else NEW_SEGMENT)
    elif form.validate_on_submit():
        try:
            saved = service.save_segment(session, service.parse_yaml(form.document.data or ""))
            session.commit()
        except DocumentError as exc:
            session.rollback()
            errors = exc.messages
        else:
            flash(_("保存しました。"), "success")
            return redirect(url_for("automations.segment", key=saved.key))
    count = members = None
    after = request.args.get("after") or None
    if after is not None and not (after.isalnum() and len(after) <= 18):
        abort(400)
    counted = None
    if existing is not None:
        # The count the reports.refresh job took, when taken since the segment last changed (its
        # time is shown; ?count=live counts now), else one COUNT now; one page of people in id
        # order (keyset paging with ?after=).
        counted = _counted(session, existing)
        count = counted.data["count"] if counted is not None else segments.count(session, existing.spec)
        members = segments.page(session, existing.spec, after=after, size=MEMBERS_PAGE)
    status = 400 if errors else 200
    next_after = members[-1].id if members and len(members) == MEMBERS_PAGE else None
    return render_template("automations/segment.html", form=form, segment=existing, errors=errors, count=count,
                           members=members, next_after=next_after, after=after, counted=counted), status


def _counted(session: Session, segment: Segment) -> snapshots.ReportSnapshot | None:
    """The fresh count snapshot of `segment` (None when stale, missing or ?count=live)."""
    if request.args.get("count") == "live":
        return None
    from reports import snapshots

    snapshot = snapshots.fresh(session, snapshots.segment_key(segment.key), snapshots.max_age())
    return snapshot if snapshot is not None and snapshot.computed_at >= segment.updated_at else None
