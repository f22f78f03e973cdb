"""Four-eyes approval of large broadcasts.

A broadcast that the dry run says would mail more than BROADCAST_APPROVAL_THRESHOLD people
(its eligible recipients, automations.dryrun) can be enabled — launched — only once an admin
other than the people who prepared it approved exactly this version of it:

    count(session, automation, now, tz) -> Count          the dry run's recipients, and whether approval is needed
    launch_refusal(session, automation, count) -> str|None why it may not be enabled now (in words)
    ask(session, automation, count, user) -> BroadcastApproval      "承認を依頼" (audit-logged)
    approve(session, automation, user) -> BroadcastApproval         a different admin approves (audit-logged)
    void_outdated(session, automation, reason) -> int               after an edit (audit-logged)

"Prepared by" is whoever asked for approval and whoever made the automation's current version
(the audit log's last automation.create / automation.update of it). An approval holds for the
automation version and the template versions it was given for, so editing either voids it.
The gate sits where a broadcast is enabled from the admin pages (automations.routes); the
`flask automations load --enable` command is for operators with shell access and bypasses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from automations.models import Automation, BroadcastApproval
from config import settings_of
from db import utcnow
from mail.models import MailTemplate
from people.models import AuditEntry
from people.service import audit
from web.i18n import gettext as _

EDIT_ACTIONS = ("automation.create", "automation.update")


class ApprovalError(ValueError):
    """An approval step that may not be taken; the message (Japanese) says why."""


@dataclass
class Count:
    """The dry run's recipients of a broadcast and what that means for launching it."""

    recipients: int
    capped: bool
    threshold: int
    needed: bool
    dry_run: Any = None
    # The segment's members before any exclusion (counted in SQL): the bound when the dry run was capped.
    segment_total: int | None = None


def is_broadcast(automation: Automation) -> bool:
    """True for a broadcast (the only kind that needs approval)."""
    return automation.spec.get("trigger", {}).get("type") == "broadcast"


def threshold() -> int:
    """BROADCAST_APPROVAL_THRESHOLD of the running app."""
    return int(settings_of().broadcast_approval_threshold)


def count(session: Session, automation: Automation, now: datetime, tz: str, page: int = 1) -> Count:
    """How many people the broadcast would mail now (the dry run's eligibility) and whether that needs approval.

    When the dry run stopped at its scan limit, the segment's whole count (before exclusions) decides.
    """
    from automations.dryrun import dry_run
    from automations.models import Segment
    from automations.segments import count as segment_count

    limit = threshold()
    result = dry_run(session, automation, now, tz, page=page)
    total = None
    if is_broadcast(automation) and result.capped:
        segment = session.scalar(select(Segment).where(Segment.key == automation.spec["trigger"]["segment"]))
        total = segment_count(session, segment.spec, now) if segment is not None else None
    needed = is_broadcast(automation) and (result.mailed > limit or (result.capped and (total or 0) > limit))
    return Count(result.mailed, result.capped, limit, needed, result, total)


def template_versions(session: Session, automation: Automation) -> dict[str, int]:
    """{template key: version} of every mail the automation sends."""
    keys = {action["template"] for step in automation.spec.get("steps", [])
            for action in step.get("actions", []) if action.get("template")}
    if not keys:
        return {}
    return dict(session.execute(select(MailTemplate.key, MailTemplate.version)
                                .where(MailTemplate.key.in_(sorted(keys)))).all())


def latest(session: Session, automation: Automation) -> BroadcastApproval | None:
    """The newest approval row of the automation (any status)."""
    return session.scalar(select(BroadcastApproval).where(BroadcastApproval.automation_id == automation.id)
                          .order_by(BroadcastApproval.id.desc()).limit(1))


def history(session: Session, automation: Automation, limit: int = 20) -> list[BroadcastApproval]:
    """The automation's approval rows, newest first."""
    return list(session.scalars(select(BroadcastApproval).where(BroadcastApproval.automation_id == automation.id)
                                .order_by(BroadcastApproval.id.desc()).limit(limit)))


def holds(session: Session, automation: Automation, approval: BroadcastApproval | None) -> bool:
    """True when `approval` is an approval of the automation's current version and templates."""
    return (approval is not None and approval.status == "approved" and approval.version == automation.version
            and approval.templates == {k: v for k, v in template_versions(session, automation).items()})


def launch_refusal(session: Session, automation: Automation, counted: Count) -> str | None:
    """Why the broadcast may not be enabled now (in words), or None."""
    if not counted.needed or holds(session, automation, latest(session, automation)):
        return None
    return _("この一斉配信は %(n)s 人に送られます（承認が必要な人数: %(t)s 人を超える）。"
             "準備した人とは別の管理者の承認を受けてから開始してください。", n=counted.recipients, t=counted.threshold)


def preparers(session: Session, automation: Automation, approval: BroadcastApproval | None) -> set[int]:
    """Ids of the staff who prepared this version: who asked for approval and who made the version."""
    found = {approval.requested_by} if approval is not None and approval.requested_by else set()
    editor = session.scalar(select(AuditEntry.user_id).where(AuditEntry.action.in_(EDIT_ACTIONS),
                                                             AuditEntry.target == automation.key)
                            .order_by(AuditEntry.id.desc()).limit(1))
    if editor is not None:
        found.add(editor)
    return found


def ask(session: Session, automation: Automation, counted: Count, user: Any) -> BroadcastApproval:
    """Ask for approval of the current version (a pending row; audit-logged)."""
    void_outdated(session, automation, _("編集されたため"))
    current = latest(session, automation)
    if current is not None and current.status == "approved":
        raise ApprovalError(_("この版はすでに承認されています。"))
    if current is not None and current.status == "pending":
        raise ApprovalError(_("この版は承認待ちです。"))
    row = BroadcastApproval(automation_id=automation.id, version=automation.version,
                            templates=template_versions(session, automation), recipients=counted.recipients,
                            status="pending", requested_by=user.id, requested_at=utcnow())
    session.add(row)
    session.flush()
    audit(session, "automation.approval_request", automation.key,
          after={"version": automation.version, "recipients": counted.recipients, "approval_id": row.id})
    return row


def approve(session: Session, automation: Automation, user: Any) -> BroadcastApproval:
    """A second admin approves the pending request of the current version (audit-logged)."""
    if user.role != "admin":
        raise ApprovalError(_("承認できるのは管理者だけです。"))
    row = latest(session, automation)
    if row is None or row.status != "pending" or row.version != automation.version \
            or row.templates != template_versions(session, automation):
        raise ApprovalError(_("承認待ちの依頼がありません。先に「承認を依頼」してください。"))
    if user.id in preparers(session, automation, row):
        raise ApprovalError(_("自分が準備・依頼した一斉配信は承認できません。別の管理者に承認を依頼してください。"))
    row.status, row.approved_by, row.approved_at = "approved", user.id, utcnow()
    audit(session, "automation.approve", automation.key,
          before={"status": "pending"},
          after={"status": "approved", "version": row.version, "recipients": row.recipients,
                 "requested_by": row.requested_by, "approved_by": user.id, "approval_id": row.id})
    return row


def void_outdated(session: Session, automation: Automation, reason: str) -> int:
    """Void pending and approved rows that no longer match the automation (version or templates); audit-logged."""
    versions = template_versions(session, automation)
    voided = 0
    for row in session.scalars(select(BroadcastApproval).where(
            BroadcastApproval.automation_id == automation.id, BroadcastApproval.status.in_(("pending", "approved")))):
        if row.version == automation.version and row.templates == versions:
            continue
        before = row.status
        row.status, row.voided_at, row.void_reason = "void", utcnow(), reason[:200]
        audit(session, "automation.approval_void", automation.key, before={"status": before, "version": row.version},
              after={"status": "void", "reason": reason[:200], "approval_id": row.id})
        voided += 1
    return voided


def started(session: Session, automation: Automation) -> bool:
    """True when the broadcast's run exists (its time came while it was enabled): holding it back
    now would stop mail half sent, so an edit after that does not disable it."""
    from automations.models import BroadcastRun

    return session.scalar(select(BroadcastRun.id).where(BroadcastRun.automation_id == automation.id).limit(1)) \
        is not None


def hold_after_template_change(session: Session, template_key: str) -> list[str]:
    """After template `template_key` changed: void the approvals it made stale and disable the
    enabled, not yet started broadcasts that were launched on them. Returns their names."""
    from automations.service import set_enabled

    held = []
    for automation in session.scalars(select(Automation).where(Automation.enabled.is_(True))):
        if not is_broadcast(automation) or template_key not in template_versions(session, automation):
            continue
        was = latest(session, automation)
        if was is None or was.status != "approved" or holds(session, automation, was):
            continue
        void_outdated(session, automation, _("承認後にテンプレートが編集されたため"))
        if not started(session, automation):
            set_enabled(session, automation, False)
            held.append(automation.name)
    return held
