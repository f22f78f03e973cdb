"""What a step does: send mail, notify the owner, write to Salesforce, start another sequence.

Every action is keyed by the step's plan key (plus its position), so running a step again after
a crash enqueues nothing new: `mail.outbox.enqueue_mail` refuses a used send key and
`writeback.queue.enqueue` returns the existing item for a used key.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from activity.models import Activity
from automations import timing
from automations.conditions import Record
from automations.models import ActionOutcome, Automation, Enrollment, PlannedStep
from forms.links import signed_form_url
from forms.models import Submission
from mail.models import OutboxMail
from mail.outbox import enqueue_mail, normalize_address, recent_marketing_mails
from people.models import User
from people.sf_user import phone_of
from sync import read
from writeback.models import WritebackItem
from writeback.queue import enqueue

if TYPE_CHECKING:
    from datetime import datetime

    from automations.engine import Runtime


def form_submitted_since(session: Session, person_id: str, form_key: str, since: datetime) -> bool:
    """True when the person submitted form `form_key` at or after `since` (a goal, e.g. a revisit booked)."""
    rows = session.scalars(select(Activity.details).where(
        Activity.person_id == person_id, Activity.kind == "form_submit", Activity.occurred_at >= since))
    return any(form_key in (d.get("form_key"), d.get("form")) for d in rows)


def _links(rt: Runtime, person_id: str | None, links: dict[str, Any]) -> dict[str, str]:
    if not links:
        return {}
    if not person_id:
        raise ValueError("a signed form link needs a person (Lead or Contact)")

    return {name: signed_form_url(spec["form"], person_id, max_age_days=int(spec.get("max_age_days", 30)))
            for name, spec in links.items()}


def recorded_by(session: Session, record_id: str | None) -> dict[str, str]:
    """The tsunagi user who entered a record on a form (e.g. the rep who recorded a visit), or {}.

    The record's owner in Salesforce is the integration user for everything tsunagi writes, so a
    mail naming "the rep" must ask who submitted the form instead. `name` is their tsunagi name,
    `phone` their Salesforce User's Phone or MobilePhone (people.sf_user), when there is one.
    """
    if not record_id:
        return {}
    ref = session.scalar(select(WritebackItem.origin_ref).where(
        WritebackItem.result_id == record_id, WritebackItem.origin == "forms").order_by(WritebackItem.id).limit(1))
    sub_id = (ref or "").rpartition(":")[2]
    if not sub_id.isdigit():
        return {}
    user = session.scalar(select(User).join(Submission, Submission.created_by == User.id)
                          .where(Submission.id == int(sub_id)))
    if user is None:
        return {}

    found = {"name": user.name, "phone": phone_of(session, user) or ""}
    return {k: v for k, v in found.items() if v}


def recorded_by_many(session: Session, record_ids: Iterable[str | None]) -> dict[str, dict[str, str]]:
    """`recorded_by` of many records in two queries (a bulk batch); records with nobody are left out."""
    first: dict[str, int] = {}
    ids = sorted({r for r in record_ids if r})
    for i in range(0, len(ids), 500):
        rows = session.execute(select(WritebackItem.result_id, WritebackItem.origin_ref).where(
            WritebackItem.result_id.in_(ids[i:i + 500]), WritebackItem.origin == "forms").order_by(WritebackItem.id))
        for result_id, ref in rows:
            sub_id = (ref or "").rpartition(":")[2]
            if result_id is not None and result_id not in first and sub_id.isdigit():
                first[result_id] = int(sub_id)
    if not first:
        return {}

    users = dict(session.execute(select(Submission.id, User).join(User, Submission.created_by == User.id)
                                 .where(Submission.id.in_(set(first.values())))).all())
    found: dict[int, dict[str, str]] = {}
    for sub, user in users.items():
        values = {"name": user.name, "phone": phone_of(session, user) or ""}  # as recorded_by
        found[sub] = {k: v for k, v in values.items() if v}
    return {rid: found[sub] for rid, sub in first.items() if found.get(sub)}


def mail_context(session: Session, rt: Runtime, automation: Automation, record: Record | None,
                 person: Record | None, links: dict[str, Any] | None = None) -> dict[str, Any]:
    """The merge data of an automation mail: person, record, owner, rep (who entered the record), campaign,
    links, automation."""
    view = rt.view(session)
    owner = view.get((record.fields.get("OwnerId") if record else None) or (person.fields.get("OwnerId")
                                                                             if person else None))
    campaign = view.get(record.fields.get("CampaignId")) if record is not None else None
    account = view.get(person.fields.get("AccountId")) if person is not None else None
    return {
        "person": read.merge_fields(person.object_name, person.fields) if person else {},
        "record": dict(record.fields) if record else {},
        "owner": dict(owner.fields) if owner else {},
        "rep": (rt.recorded.get(record.id, {}) if rt.recorded is not None and record is not None
                else recorded_by(session, record.id if record else None)),
        "account": dict(account.fields) if account else {},
        "campaign": dict(campaign.fields) if campaign else {},
        "links": _links(rt, person.id if person else None, links or {}),
        "automation": {"key": automation.key, "name": automation.name},
    }


def send_key(plan_key: str, suffix: str = "") -> str:
    """The outbox send key of a step's mail: the plan key itself, hashed when over the outbox's 200 characters."""
    key = plan_key + suffix
    if len(key) <= 200:
        return key
    import hashlib

    return f"automations:{hashlib.sha256(key.encode()).hexdigest()}"


def _enqueue_mail(session: Session, rt: Runtime | None = None, **kwargs: Any) -> bool:
    if rt is not None and rt.mail_buffer is not None:
        rt.mail_buffer.append(kwargs)  # a bulk batch: queued with the others when the batch ends
        return True
    return enqueue_mail(session, **kwargs)


def person_refusal(person: Record | None, marketing: bool) -> str | None:
    """Why a send_mail step cannot queue a mail for `person` (in words), or None.

    The outbox worker checks suppressions and consent again when it sends (mail.consent).
    """
    if person is None:
        return "関連する人（リード／取引先責任者）が見つかりません"
    if not (read.person_email(person.object_name, person.fields) or "").strip():
        return "メールアドレスがありません"
    if marketing and read.opted_out(person.object_name, person.fields):
        return f"メール配信停止（{read.opt_out_field(person.object_name)}）"
    return None


def _send_mail(session: Session, rt: Runtime, automation: Automation, step: PlannedStep, index: int,
               action: dict[str, Any], record: Record | None, person: Record | None) -> ActionOutcome:
    marketing = bool(action.get("marketing", True))
    refused = person_refusal(person, marketing)
    if refused or person is None:
        return ActionOutcome("send_mail", False, refused or "")
    email = (read.person_email(person.object_name, person.fields) or "").strip()
    key = send_key(step.plan_key, f"#{index}" if index else "")
    if marketing and rt.frequency_cap and _over_cap(session, rt, email, key):
        return ActionOutcome("send_mail", False, f"配信頻度の上限（24時間に {rt.frequency_cap} 通）")
    context = mail_context(session, rt, automation, record, person, action.get("links"))
    if marketing:
        # Checked again by the outbox worker when it sends (mail.consent).
        context["consent_basis"] = automation.spec.get("consent", "opt_in")
        if automation.spec.get("topic"):
            context["mail_topic"] = automation.spec["topic"]  # none: MAIL_TOPICS' default (mail.topics)
    campaign_id = _campaign_of(automation, record)
    added = _enqueue_mail(session, rt, send_key=key, to=email,
                          template_key=action["template"], context=context, person_id=person.id,
                          marketing=marketing, origin="automations", origin_ref=step.plan_key[:200],
                          lane=step.lane or 0, salesforce_log=salesforce_log_of(automation, campaign_id),
                          campaign_id=campaign_id)
    return ActionOutcome("send_mail", True, f"{action['template']} → {email}" + ("" if added else "（送信済み）"))


def _over_cap(session: Session, rt: Runtime, email: str, key: str) -> bool:
    """True when the address had MAIL_FREQUENCY_CAP_PER_DAY marketing mails in the last 24 hours.

    Counted on the outbox, so automations and broadcasts share one cap; transactional mails
    (marketing: false) neither count nor are held back. A mail already queued under this step's
    key (the step run again) is not held back by itself.
    """
    from datetime import timedelta

    if session.scalar(select(OutboxMail.id).where(OutboxMail.send_key == key)) is not None:
        return False

    try:
        address = normalize_address(email)[0]
        recent = recent_marketing_mails(session, email, rt.clock() - timedelta(hours=24))
    except ValueError:
        return False  # a bad address: enqueue_mail says so
    # Mails of this bulk batch, not yet inserted, count too.
    waiting = sum(1 for m in rt.mail_buffer or () if m.get("marketing", True)
                  and normalize_address(m["to"])[0] == address)
    return recent + waiting >= rt.frequency_cap


def _campaign_of(automation: Automation, record: Record | None) -> str | None:
    trig = automation.spec["trigger"]
    if trig.get("campaign_id"):
        return str(trig["campaign_id"])
    if record is not None and record.object_name == "CampaignMember":
        return record.fields.get("CampaignId")
    return None


def salesforce_log_of(automation: Automation, campaign_id: str | None) -> str:
    """How this automation's mail is logged in Salesforce (spec `salesforce_log`, see docs/automations.md).

    Default: a Task per mail for mail that answers one person; for a broadcast the cheap choice,
    the CampaignMember status when it names a campaign, else nothing.
    """
    chosen = automation.spec.get("salesforce_log")
    if not chosen:
        bulk = automation.spec["trigger"]["type"] == "broadcast"
        chosen = ("campaign_member" if campaign_id else "none") if bulk else "task"
    if chosen in ("campaign_member", "campaign_task") and not campaign_id:
        return "task" if chosen == "campaign_task" else "none"
    return chosen


def _notify_owner(session: Session, rt: Runtime, automation: Automation, step: PlannedStep, index: int,
                  action: dict[str, Any], record: Record | None, person: Record | None) -> ActionOutcome:
    view = rt.view(session)
    owner_id = (record.fields.get("OwnerId") if record else None) or (person.fields.get("OwnerId") if person else None)
    owner = view.get(owner_id)
    email = (owner.fields.get("Email") or "").strip() if owner else ""
    if not email:
        return ActionOutcome("notify_owner", False, "所有者のメールアドレスが見つかりません")
    # Links are signed for the person (e.g. their booking form, for the rep to send on or open).
    context = mail_context(session, rt, automation, record, person, action.get("links") if person else None)
    _enqueue_mail(session, send_key=send_key(step.plan_key, f"#owner{index}"), to=email,
                  template_key=action["template"], context=context, person_id=None, marketing=False,
                  origin="automations", origin_ref=step.plan_key[:200])
    return ActionOutcome("notify_owner", True, f"{action['template']} → {email}")


def _writeback(session: Session, step: PlannedStep, index: int, object_name: str, operation: str,
               fields: dict[str, Any], record_id: str | None = None) -> None:
    enqueue(session, key=send_key(f"automations:{step.plan_key}", f"#{index}"),
            object_name=object_name, operation=operation, fields=fields, record_id=record_id,
            origin="automations", origin_ref=step.plan_key[:200])


def _what_id(record: Record | None) -> str | None:
    if record is None or record.object_name in ("Task", "Event", "Lead", "Contact", "User") \
            or read.person_of(record.object_name, record.fields) is not None:
        return None  # WhatId names a thing, never a person
    if record.object_name == "CampaignMember":
        return record.fields.get("CampaignId")
    return record.id


def run_actions(session: Session, rt: Runtime, automation: Automation, enrollment: Enrollment, step: PlannedStep,
                spec_actions: list[dict[str, Any]]) -> list[ActionOutcome]:
    """Run a step's actions in order, in the caller's transaction; return what each did."""
    view = rt.view(session)
    record = view.get(enrollment.context.get("record_id"))
    person = view.get(enrollment.person_id)
    outcomes: list[ActionOutcome] = []
    for index, action in enumerate(spec_actions):
        kind = action["type"]
        if kind == "send_mail":
            outcomes.append(_send_mail(session, rt, automation, step, index, action, record, person))
        elif kind == "notify_owner":
            outcomes.append(_notify_owner(session, rt, automation, step, index, action, record, person))
        elif kind == "update_field":
            target = person if action.get("target") == "person" else record
            if target is None:
                outcomes.append(ActionOutcome(kind, False, "更新対象のレコードがありません"))
                continue
            _writeback(session, step, index, target.object_name, "update", dict(action["fields"]), target.id)
            outcomes.append(ActionOutcome(kind, True, f"{target.object_name} {target.id} {sorted(action['fields'])}"))
        elif kind == "create_task":
            sent = "; ".join(o.describe() for o in outcomes if o.done)
            fields: dict[str, Any] = {
                "Subject": str(action["subject"])[:255], "Status": action.get("status", "Completed"),
                "ActivityDate": timing.local_today(rt.now, rt.tz).isoformat(),  # Salesforce dates are local
                "Description": f"tsunagi オートメーション「{automation.name}」: {sent or '実行'}"[:32000],
            }
            if person is not None:
                fields["WhoId"] = read.who_id(person.object_name, person.id, person.fields)
            if _what_id(record):
                fields["WhatId"] = _what_id(record)
            owner_id = (record.fields.get("OwnerId") if record else None)
            if owner_id and str(owner_id).startswith("005"):
                fields["OwnerId"] = owner_id
            _writeback(session, step, index, "Task", "create", fields)
            outcomes.append(ActionOutcome(kind, True, str(action["subject"])))
        elif kind == "add_to_campaign":
            if person is None:
                outcomes.append(ActionOutcome(kind, False, "関連する人が見つかりません"))
                continue
            id_field = "LeadId" if person.object_name == "Lead" else "ContactId"
            _writeback(session, step, index, "CampaignMember", "create",
                       {"CampaignId": action["campaign_id"],
                        id_field: read.who_id(person.object_name, person.id, person.fields),
                        "Status": action.get("status", "Sent")})
            outcomes.append(ActionOutcome(kind, True, action["campaign_id"]))
        elif kind == "campaign_member_status":
            outcomes.append(_campaign_member_status(session, step, index, action, enrollment, record, person))
        elif kind == "start_sequence":
            outcomes.append(_start_sequence(session, rt, step, action, record, person))
    return outcomes


def _campaign_member_status(session: Session, step: PlannedStep, index: int, action: dict[str, Any],
                            enrollment: Enrollment, record: Record | None, person: Record | None) -> ActionOutcome:
    """Set the Status of the CampaignMember this step is about (found or created for a broadcast's campaign)."""
    status = action["status"]
    if record is not None and record.object_name == "CampaignMember":
        _writeback(session, step, index, "CampaignMember", "update", {"Status": status}, record.id)
        return ActionOutcome("campaign_member_status", True, status)
    campaign_id = action.get("campaign_id") or enrollment.context.get("campaign_id")
    if not campaign_id or person is None:
        return ActionOutcome("campaign_member_status", False, "キャンペーンまたは人が特定できません")
    id_field = "LeadId" if person.object_name == "Lead" else "ContactId"
    member_id = session.scalar(read.live_ids("CampaignMember").where(
        read.field_text("CampaignId") == campaign_id,
        read.field_text(id_field) == read.who_id(person.object_name, person.id, person.fields))
        .limit(1))
    if member_id:
        _writeback(session, step, index, "CampaignMember", "update", {"Status": status}, member_id)
    else:
        _writeback(session, step, index, "CampaignMember", "create",
                   {"CampaignId": campaign_id, id_field: read.who_id(person.object_name, person.id, person.fields),
                    "Status": status})
    return ActionOutcome("campaign_member_status", True, status)


def _start_sequence(session: Session, rt: Runtime, step: PlannedStep, action: dict[str, Any],
                    record: Record | None, person: Record | None) -> ActionOutcome:
    from automations.engine import enroll
    from automations.queries import automation_by_key

    target = session.scalar(automation_by_key(action["automation"]))
    subject = person or record
    if target is None or not target.enabled or subject is None:
        return ActionOutcome("start_sequence", False, f"{action['automation']} が無効か対象がありません")
    enrolled = enroll(session, rt, target, subject, occurrence=step.plan_key[-100:],
                      why=f"{step.plan_key} から開始")
    return ActionOutcome("start_sequence", enrolled is not None, action["automation"])
