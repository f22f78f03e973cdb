"""Hot-lead hand-off: what happens, exactly once, when a score crosses a threshold upwards.

In the crossing's own transaction: the automations engine hears of it
(`automations.triggers.fire_external`, with the app's runtime), the owner gets a mail (through
`mail.outbox.enqueue_mail`, keyed by the crossing id) and a Task is queued for Salesforce
(write-back, keyed by the crossing id). Mail and Task are switched per threshold in the scoring
model, so the hand-off works with no automation configured, and can be left to automations alone
when one is.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from automations.jobs import runtime
from automations.triggers import fire_external
from config import settings_of
from mail.outbox import enqueue_mail
from mail.templates import get_template, save_template
from salesforce.dates import local_date
from sync import read
from writeback.queue import enqueue as enqueue_write

log = logging.getLogger(__name__)

EVENT_KIND = "score_threshold"


DEFAULT_TEMPLATE_KEY = "scoring-hot-lead"

def _public_base() -> str:
    return settings_of().public_base_url.rstrip("/")


def hand_over(session: Session, threshold: Any, crossing: Any, previous_score: int) -> str:
    """Run the hand-off of one crossing; returns what was done (stored on the crossing row).

    Needs the app context: automations and the Task's date use the app's settings (TSUNAGI_TIMEZONE).
    """
    done: list[str] = []
    rt = runtime()
    person = read.record(session, crossing.person_id)
    fields = dict(person.fields) if person is not None else {}
    # `occurrence` makes every crossing a new entry for automations (a later re-crossing too).
    payload = {"threshold": threshold.name, "score": crossing.score, "previous": previous_score,
               "occurrence": f"{threshold.name}#{crossing.crossing_no}", "crossing_id": crossing.id}
    fire_external(session, EVENT_KIND, crossing.person_id, payload, rt=rt)
    done.append("automations")
    owner_id = fields.get("OwnerId")
    owner = read.record(session, owner_id) if owner_id else None
    owner_email = (owner.fields.get("Email") if owner is not None else None) or None
    if threshold.notify_owner:
        if threshold.mail_template == DEFAULT_TEMPLATE_KEY:
            # The shipped model names the shipped template: make it on first use, whichever way
            # the model arrived (the default, the admin editor, or `flask scoring load`).
            ensure_hot_lead_template(session)
        if owner_email and get_template(session, threshold.mail_template) is None:
            # An unknown template would fail the whole rescore; the Task still reaches the owner.
            log.warning("hot-lead mail template %r does not exist; no mail sent", threshold.mail_template)
            done.append("no-template")
        elif owner_email:
            enqueue_mail(
                session, send_key=f"scoring:hot:{crossing.id}", to=owner_email,
                template_key=threshold.mail_template,
                # mail's merge roots are person/owner/links; score data rides along for custom use.
                context={"person": fields, "owner": dict(owner.fields) if owner is not None else {},
                         "links": {"person": f"{_public_base()}/admin/scoring/people/{crossing.person_id}"},
                         "scoring": {"score": crossing.score, "threshold": threshold.name}},
                person_id=None, marketing=False, origin="scoring", origin_ref=str(crossing.id))
            done.append("mail")
        else:
            # No owner address mirrored: the Task below still reaches the owner.
            done.append("no-owner-mail")
    if threshold.create_task:
        task: dict[str, Any] = {
            # A Person Account is named in WhoId by its Contact (PersonContactId).
            "WhoId": read.who_ids(session, [crossing.person_id]).get(crossing.person_id, crossing.person_id),
            "Subject": threshold.task_subject.replace("{score}", str(crossing.score))[:255],
            "Status": "Not Started",
            "Priority": "High",
            "ActivityDate": local_date(crossing.crossed_at, rt.tz).isoformat(),
            "Description": f"スコアが {threshold.name} ({threshold.score}) を超えました: {crossing.score}",
        }
        if owner_id:
            task["OwnerId"] = owner_id
        enqueue_write(session, key=f"scoring:task:{crossing.id}", object_name="Task", operation="create",
                      fields=task, origin="scoring", origin_ref=str(crossing.id))
        done.append("task")
    return ",".join(done)


HOT_LEAD_TEMPLATE = {
    "name": "ホットリードのお知らせ (scoring)",
    "subject": "ホットリード: {{ person.LastName }} {{ person.FirstName }} さん",
    "html": "<p>担当のお客様 {{ person.LastName }} {{ person.FirstName }} さんのスコアが"
            "ホットリードのしきい値を超えました。</p><p>Salesforce に ToDo を作成しました。"
            "早めのご連絡をお願いします。</p>",
}


def ensure_hot_lead_template(session: Session, key: str = DEFAULT_TEMPLATE_KEY) -> bool:
    """Create the default hot-lead mail template when missing; True when it exists afterwards."""
    if get_template(session, key) is not None:
        return True
    try:
        save_template(session, key=key, **HOT_LEAD_TEMPLATE)
    except ValueError as exc:  # mail.templates.TemplateInvalid: report, do not block the model import
        log.warning("could not create the hot-lead template: %s", exc)
        return False
    return True
