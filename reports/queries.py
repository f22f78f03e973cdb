"""Report figures, each a small set of aggregate queries over one date range [start, end).

Definitions (also in docs/reports.md):
- Automation funnel: triggered = automation entries ("fired" history rows) in the range; sent =
  its mails sent in the range; delivered = those not bounced; opened / clicked = those with at
  least one open / click (any time); converted = those whose person submitted a form within
  ATTRIBUTION_DAYS after the mail was sent.
- Deliverability per local day: mails sent, bounces (hard and soft), unsubscribes.
- Forms: submissions per form in the range and the share that failed to reach Salesforce.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, Interval, String, and_, case, cast, exists, func, literal, select
from sqlalchemy.orm import Session, aliased

from activity.models import Activity
from automations.models import Automation, AutomationRun
from forms.models import FormDefinition, Submission
from mail.models import OutboxMail
from scoring import progress as scoring_progress
from scoring.models import PersonScore
from sync import read
from sync.models import ChangeEvent, SyncObject
from sync.read import Mirror, document_text
from writeback.models import WritebackItem

ATTRIBUTION_DAYS = 30


def _automation_key(session: Session, column: Any) -> Any:
    """The automation key from a mail's origin_ref (plan key 'key/step/subject/occurrence')."""
    if session.get_bind().dialect.name == "postgresql":
        return func.split_part(column, "/", 1)
    return func.substr(column, 1, func.instr(column + "/", "/") - 1)


def _plus_days(session: Session, column: Any, days: int) -> Any:
    """`column` + `days` in SQL (SQLite keeps UTC timestamps as text, so it needs datetime())."""
    if session.get_bind().dialect.name == "postgresql":
        return column + literal(timedelta(days=days), Interval())
    return func.datetime(column, f"+{days} days")


def _mail_id_is(activity: Any, mail_id: Any) -> Any:
    """The activity names this mail, compared as text so PostgreSQL uses ix_activities_mail_id."""
    return document_text(activity.details, "mail_id") == cast(mail_id, String)


def automation_funnels(session: Session, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """One funnel per automation that fired or sent in the range."""
    automations = {a.key: a for a in session.scalars(select(Automation))}
    by_id = {a.id: a.key for a in automations.values()}
    rows: dict[str, dict[str, Any]] = {}

    def row(key: str) -> dict[str, Any]:
        automation = automations.get(key)
        return rows.setdefault(key, {"key": key, "name": automation.name if automation else key, "triggered": 0,
                                     "sent": 0, "delivered": 0, "opened": 0, "clicked": 0, "converted": 0})

    fired = session.execute(select(AutomationRun.automation_id, func.count())
                            .where(AutomationRun.outcome == "fired", AutomationRun.occurred_at >= start,
                                   AutomationRun.occurred_at < end)
                            .group_by(AutomationRun.automation_id))
    for automation_id, count in fired:
        if automation_id in by_id:
            row(by_id[automation_id])["triggered"] = count
    opened, clicked, submit = aliased(Activity), aliased(Activity), aliased(Activity)
    key = _automation_key(session, OutboxMail.origin_ref)
    has = {
        "opened": exists().where(opened.kind == "mail_open", _mail_id_is(opened, OutboxMail.id)),
        "clicked": exists().where(clicked.kind == "mail_click", _mail_id_is(clicked, OutboxMail.id)),
    }
    converted = exists().where(submit.kind == "form_submit", submit.person_id == OutboxMail.person_id,
                               submit.occurred_at >= OutboxMail.sent_at,
                               submit.occurred_at < _plus_days(session, OutboxMail.sent_at, ATTRIBUTION_DAYS))
    stmt = (select(key, func.count(),
                   func.sum(case((OutboxMail.status == "sent", 1), else_=0)),
                   func.sum(case((has["opened"], 1), else_=0)),
                   func.sum(case((has["clicked"], 1), else_=0)),
                   func.sum(case((converted, 1), else_=0)))
            .where(OutboxMail.origin == "automations", OutboxMail.status.in_(("sent", "bounced")),
                   OutboxMail.sent_at >= start, OutboxMail.sent_at < end)
            .group_by(key))
    for k, sent, delivered, n_opened, n_clicked, n_converted in session.execute(stmt):
        r = row(k)
        r.update(sent=sent, delivered=delivered or 0, opened=n_opened or 0, clicked=n_clicked or 0,
                 converted=n_converted or 0)
    return sorted(rows.values(), key=lambda r: r["name"])


def deliverability(session: Session, start: datetime, end: datetime, local_day: Any) -> dict[str, dict[str, int]]:
    """Per local day: sent, hard/soft bounces and unsubscribes (`local_day` maps a UTC time to 'YYYY-MM-DD')."""
    days: dict[str, dict[str, int]] = {}

    def bump(when: datetime, name: str, n: int = 1) -> None:
        day = days.setdefault(local_day(when), {"sent": 0, "hard_bounces": 0, "soft_bounces": 0, "unsubscribes": 0})
        day[name] += n

    # Grouped by the hour in SQL (portable), folded into local days here: at most 24 rows a day.
    hour = _hour(session, OutboxMail.sent_at)
    for when, count in session.execute(select(hour, func.count()).where(
            OutboxMail.status.in_(("sent", "bounced")), OutboxMail.sent_at >= start, OutboxMail.sent_at < end,
            OutboxMail.origin != "test")  # test sends (mail.testsend) are not deliveries to customers
            .group_by(hour)):
        bump(_parse_hour(when), "sent", count)
    hard = Activity.details["hard"].as_boolean()
    a_hour = _hour(session, Activity.occurred_at)
    stmt = (select(a_hour, Activity.kind, hard, func.count())
            .where(Activity.kind.in_(("mail_bounce", "unsubscribe")), Activity.occurred_at >= start,
                   Activity.occurred_at < end)
            .group_by(a_hour, Activity.kind, hard))
    for when, kind, is_hard, count in session.execute(stmt):
        name = "unsubscribes" if kind == "unsubscribe" else ("hard_bounces" if is_hard else "soft_bounces")
        bump(_parse_hour(when), name, count)
    return days


def _hour(session: Session, column: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        # timezone('UTC', …) first: date_trunc on timestamptz would use the session's time zone.
        return func.to_char(func.date_trunc("hour", func.timezone("UTC", column)), "YYYY-MM-DD HH24")
    return func.strftime("%Y-%m-%d %H", column)


def _parse_hour(text: str) -> datetime:
    from datetime import UTC

    return datetime.strptime(text, "%Y-%m-%d %H").replace(tzinfo=UTC)


def form_figures(session: Session, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Per form: submissions, failed write-backs, pending, error rate."""
    names = dict(session.execute(select(FormDefinition.key, FormDefinition.title)).all())
    stmt = (select(Submission.form_key, func.count(),
                   func.sum(case((Submission.status == "failed", 1), else_=0)),
                   func.sum(case((Submission.status == "pending", 1), else_=0)))
            .where(Submission.created_at >= start, Submission.created_at < end)
            .group_by(Submission.form_key).order_by(Submission.form_key))
    out = []
    for key, total, failed, pending in session.execute(stmt):
        out.append({"key": key, "name": names.get(key, key), "submissions": total, "failed": failed or 0,
                    "pending": pending or 0, "error_rate": (failed or 0) / total if total else 0.0})
    return out


def campaign_figures(session: Session, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Per mirrored campaign: members, responded, members by status, status changes in the range."""
    members: dict[str, dict[str, Any]] = {}
    campaigns = {sf_id: fields for sf_id, fields in session.execute(read.live_records("Campaign"))}
    # Field expressions render the field name as a literal: the same text in SELECT and GROUP BY,
    # and the one ix_mirror_f_campaignid indexes.
    campaign_id = read.field_text("CampaignId")
    status = read.field_text("Status")
    responded = read.field_text("HasResponded") == "true"
    stmt = (select(campaign_id, status, func.count(), func.sum(case((responded, 1), else_=0)))
            .where(Mirror.object_name == "CampaignMember", Mirror.is_deleted.is_(False))
            .group_by(campaign_id, status))
    for cid, st, count, resp in session.execute(stmt):
        entry = members.setdefault(cid, {"members": 0, "responded": 0, "statuses": {}, "changes": 0})
        entry["members"] += count
        entry["responded"] += resp or 0
        entry["statuses"][st or "—"] = count
    # One expression object in SELECT and GROUP BY: PostgreSQL must see the same bound parameter.
    changed_campaign = Activity.details["campaign_id"].as_string()
    changes = session.execute(
        select(changed_campaign, func.count())
        .where(Activity.kind == "campaign_status", Activity.occurred_at >= start, Activity.occurred_at < end)
        .group_by(changed_campaign))
    for cid, count in changes:
        members.setdefault(cid, {"members": 0, "responded": 0, "statuses": {}, "changes": 0})["changes"] = count
    out = []
    for cid, entry in members.items():
        fields = campaigns.get(cid, {})
        out.append({"id": cid, "name": fields.get("Name") or cid, "type": fields.get("Type") or "", **entry})
    return sorted(out, key=lambda r: (-r["members"], r["name"] or ""))


def stage_counts(session: Session) -> dict[str, int]:
    """People per stage."""
    return dict(session.execute(select(PersonScore.stage, func.count()).group_by(PersonScore.stage)).all())


def score_bands(session: Session, width: int = 25) -> list[tuple[int, int]]:
    """People per score band of `width` points: (band start, count)."""
    band = (PersonScore.score / width) if session.get_bind().dialect.name == "sqlite" \
        else func.floor(PersonScore.score / float(width))
    band = cast(band, Integer)
    rows = session.execute(select(band, func.count()).group_by(band).order_by(band)).all()
    return [(int(b) * width, n) for b, n in rows]


def sync_health(session: Session) -> dict[str, Any]:
    """Mirror size and freshness per object, sync cursors, pending work and write-back errors."""
    mirror = read.count_by_object(session)
    objects = [{"object": o.object_name, "last_success_at": o.last_success_at, "last_cycle_at": o.last_cycle_at,
                "failures": o.consecutive_failures, "error": o.last_error or ""}
               for o in session.scalars(select(SyncObject).order_by(SyncObject.object_name))]
    writeback = dict(session.execute(select(WritebackItem.status, func.count())
                                     .group_by(WritebackItem.status)).all())
    unprocessed = session.scalar(select(func.count()).select_from(ChangeEvent)
                                 .where(ChangeEvent.processed_at.is_(None))) or 0
    unscored = scoring_progress.unscored(session)
    return {"mirror": [{"object": o, "records": n, "last_seen_at": t} for o, n, t in mirror],
            "objects": objects, "writeback": writeback, "unprocessed_changes": unprocessed,
            "unscored_activity": unscored}


def kind_counts(session: Session, start: datetime, end: datetime) -> dict[str, int]:
    """Activity rows per kind in the range (the overview's headline figures)."""
    return dict(session.execute(select(Activity.kind, func.count())
                                .where(and_(Activity.occurred_at >= start, Activity.occurred_at < end))
                                .group_by(Activity.kind)).all())
