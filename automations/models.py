"""Tables of the automations package.

An `Automation` is a definition (trigger, conditions, steps) kept as a validated YAML-shaped
document. When its trigger fires for a record, an `Enrollment` is created (unique per
automation, subject and occurrence, which is what makes a change seen twice harmless) and the
first `PlannedStep` is inserted; each executed step plans the next one in the same transaction.
Planned steps are rows claimed by workers with leases (never one APScheduler job per person);
their unique `plan_key` is also the mail send key, so neither layer can send twice.
Everything that happens is written to `AutomationRun` (the history shown per automation and per
person).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from activity.models import ConsumerCursorMixin, ConsumerQueueMixin
from db import Base, BigId, utcnow
from work.models import ClaimableMixin

# PlannedStep statuses: queued ("planned", due at due_at) and running come from ClaimableMixin;
# the rest are final.
STEP_FINAL = ("sent", "skipped", "exited", "failed")
ENROLLMENT_STATUSES = ("active", "finished", "exited")


class Automation(Base):
    """One automation: its definition as a document (see docs/automations.md for the schema)."""

    __tablename__ = "automations"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(default=False)
    # Bumped on every edit; planned steps remember the version that planned them.
    version: Mapped[int] = mapped_column(default=1)
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Enrollment(Base):
    """A subject (the trigger record, or the person) entering an automation once per occurrence."""

    __tablename__ = "automation_enrollments"
    __table_args__ = (
        UniqueConstraint("automation_id", "subject_id", "occurrence"),
        Index("ix_automation_enrollments_subject", "automation_id", "subject_id", "enrolled_at"),
        Index("ix_automation_enrollments_person", "person_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    automation_id: Mapped[int] = mapped_column(ForeignKey("automations.id", ondelete="CASCADE"))
    subject_id: Mapped[str] = mapped_column(String(64))
    # What makes this entry distinct: 'once', a change's timestamp, a date value, an activity id…
    occurrence: Mapped[str] = mapped_column(String(100))
    person_id: Mapped[str | None] = mapped_column(String(18))
    status: Mapped[str] = mapped_column(String(16), default="active")
    reason: Mapped[str] = mapped_column(String(300), default="")
    # Merge data resolved at entry (trigger record id, object, change) for later steps.
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    enrolled_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]


class PlannedStep(ClaimableMixin, Base):
    """One step of one enrollment, due at `due_at`; status queued (planned) → sent/skipped/exited/failed."""

    __tablename__ = "automation_planned_steps"
    __table_args__ = (
        # The claim query walks this index: status = 'queued' AND due_at <= now ORDER BY due_at.
        Index("ix_automation_planned_steps_due", "status", "due_at"),
        Index("ix_automation_planned_steps_enrollment", "enrollment_id"),
        # Steps answering one person (lane 0) are claimed before bulk ones (lane 1) walking this index.
        Index("ix_automation_planned_steps_lane_due", "lane", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # automation key / step / subject / occurrence: the exactly-once key, also the mail send key.
    plan_key: Mapped[str] = mapped_column(String(300), unique=True)
    automation_id: Mapped[int] = mapped_column(ForeignKey("automations.id", ondelete="CASCADE"))
    automation_version: Mapped[int] = mapped_column(default=1)
    enrollment_id: Mapped[int] = mapped_column(BigId, ForeignKey("automation_enrollments.id", ondelete="CASCADE"))
    step_index: Mapped[int] = mapped_column(default=0)
    person_id: Mapped[str | None] = mapped_column(String(18))
    # 0: answers one person's action (a 不在 follow-up, a form confirmation); 1: bulk (broadcasts,
    # date campaigns). Workers claim lane 0 first, so bulk work never delays a person's mail long.
    lane: Mapped[int] = mapped_column(default=0, server_default="0")
    reason: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]


class AutomationRun(Base):
    """History: what fired, was planned, sent, skipped or exited, when and why."""

    __tablename__ = "automation_runs"
    __table_args__ = (
        Index("ix_automation_runs_automation", "automation_id", "id"),
        Index("ix_automation_runs_person", "person_id", "id"),
        Index("ix_automation_runs_record", "record_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    automation_id: Mapped[int] = mapped_column(ForeignKey("automations.id", ondelete="CASCADE"))
    enrollment_id: Mapped[int | None] = mapped_column(BigId)
    step_index: Mapped[int | None]
    record_id: Mapped[str | None] = mapped_column(String(64))
    person_id: Mapped[str | None] = mapped_column(String(18))
    # fired | not_entered | planned | sent | skipped | exited | failed | finished
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)


class Segment(Base):
    """A saved filter over people in the mirror (Lead and Contact), with a live count."""

    __tablename__ = "automation_segments"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # {"objects": ["Lead", "Contact"], "conditions": [...]} (see docs/automations.md)
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class BroadcastRun(Base):
    """The planning of one broadcast, chunk by chunk: where it stands, so a crash resumes there.

    People are entered Contacts first, then Leads, each in Id order; `phase` is the object being
    entered and `cursor` the last Id of it committed. Each chunk commits its enrollments, first
    steps, addresses and the moved cursor together.
    """

    __tablename__ = "automation_broadcast_runs"
    __table_args__ = (UniqueConstraint("automation_id", "occurrence"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    automation_id: Mapped[int] = mapped_column(ForeignKey("automations.id", ondelete="CASCADE"))
    occurrence: Mapped[str] = mapped_column(String(100))
    # planning | planned
    status: Mapped[str] = mapped_column(String(16), default="planning")
    phase: Mapped[str] = mapped_column(String(32), default="")
    cursor: Mapped[str] = mapped_column(String(18), default="")
    chunks: Mapped[int] = mapped_column(default=0)
    entered: Mapped[int] = mapped_column(default=0)
    # Records left out because another record with the same address was chosen.
    folded: Mapped[int] = mapped_column(default=0)
    # Records left out because some record with their address has opted out of mail.
    opted_out: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class BroadcastAddress(Base):
    """One normalized address of one broadcast and the person chosen for it (one mail per address)."""

    __tablename__ = "automation_broadcast_addresses"

    run_id: Mapped[int] = mapped_column(ForeignKey("automation_broadcast_runs.id", ondelete="CASCADE"),
                                        primary_key=True)
    address: Mapped[str] = mapped_column(String(254), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(18))


class BroadcastApproval(Base):
    """A broadcast above BROADCAST_APPROVAL_THRESHOLD asked to be approved, and the admin who approved it.

    An approval holds for the automation version and the template versions it was given for:
    an edit after approval voids it (automations.approvals). Approver ≠ preparer (four eyes).
    """

    __tablename__ = "automation_approvals"
    __table_args__ = (Index("ix_automation_approvals_automation", "automation_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    automation_id: Mapped[int] = mapped_column(ForeignKey("automations.id", ondelete="CASCADE"))
    version: Mapped[int]
    # {template key: version} of the mails the broadcast sends, when it was asked.
    templates: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # People the dry run said it would mail when approval was asked.
    recipients: Mapped[int] = mapped_column(default=0)
    # pending | approved | void
    status: Mapped[str] = mapped_column(String(16), default="pending")
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None]
    voided_at: Mapped[datetime | None]
    void_reason: Mapped[str] = mapped_column(String(200), default="")


@dataclass
class ActionOutcome:
    """What one action did (`done`) or why it did nothing."""

    action: str
    done: bool
    reason: str = ""

    def describe(self) -> str:
        """`send_mail: 送信予約` style summary for history."""
        return f"{self.action}: {self.reason}" if self.reason else self.action


class AutomationCursor(ConsumerCursorMixin, Base):
    """Where automations stand in the activity table (consumer `form_submissions`; activity.feed)."""

    __tablename__ = "automation_cursors"


class FormSubmissionQueue(ConsumerQueueMixin, Base):
    """A form_submit activity taken in whose automations have not fired yet (person still unknown)."""

    __tablename__ = "automation_form_queue"
