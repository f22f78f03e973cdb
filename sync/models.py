"""The mirror of Salesforce records and the change events derived from it.

These two tables are the contract between sync (writer) and forms, automations, scoring and
reports (readers). Field values are kept under their Salesforce names in `fields`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from db import Base, BigId, JSONDocument, utcnow

# Source of the change events of an object's first load into the mirror: history being copied,
# not news, so automations do not react to it (enabling sync must not mail every customer at once).
INITIAL_LOAD = "initial"
SOURCES = ("poll", "outbound", "writeback", INITIAL_LOAD)


class MirrorRecord(Base):
    """One Salesforce record as last synced, with normalized lookup keys for forms and dedupe."""

    __tablename__ = "mirror_records"
    __table_args__ = (
        Index("ix_mirror_object_modstamp", "object_name", "system_modstamp", "sf_id"),
        Index("ix_mirror_email", "email_key"),
        Index("ix_mirror_phone", "phone_key"),
        Index("ix_mirror_name", "name_key"),
        Index("ix_mirror_kana", "kana_key"),
        Index("ix_mirror_company", "company_key"),
        Index("ix_mirror_member", "member_key", postgresql_ops={"member_key": "text_pattern_ops"}),
        Index("ix_mirror_phone_rev", "phone_rev_key", postgresql_ops={"phone_rev_key": "text_pattern_ops"}),
        Index("ix_mirror_email_local_rev", "email_local_rev_key",
              postgresql_ops={"email_local_rev_key": "text_pattern_ops"}),
        # Counts and freshness per object (status pages) by an index-only scan, not a table scan.
        Index("ix_mirror_object_live", "object_name", "is_deleted", "last_seen_at"),
        # Forms' as-you-type lookup: on PostgreSQL a `LIKE 'prefix%'` uses a b-tree index only with
        # text_pattern_ops (or the C collation). Created by the forms migration branch (forms_0001).
        *(Index(f"ix_forms_mirror_{name}_prefix", f"{name}_key", postgresql_ops={f"{name}_key": "text_pattern_ops"})
          for name in ("email", "phone", "name", "kana")),
    )

    # 18-character Salesforce ids are unique across objects (the key prefix names the object).
    sf_id: Mapped[str] = mapped_column(String(18), primary_key=True)
    object_name: Mapped[str] = mapped_column(String(80))
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    system_modstamp: Mapped[datetime]
    is_deleted: Mapped[bool] = mapped_column(default=False)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Where the latest values came from: poll, outbound, or writeback (our own write).
    last_source: Mapped[str] = mapped_column(String(16), default="poll")
    email_key: Mapped[str | None] = mapped_column(String(254))
    phone_key: Mapped[str | None] = mapped_column(String(20))
    name_key: Mapped[str | None] = mapped_column(String(200))
    kana_key: Mapped[str | None] = mapped_column(String(200))
    company_key: Mapped[str | None] = mapped_column(String(200))
    # Member number (FORMS_MEMBER_NUMBER_FIELD of a Contact), and reversed phone digits / email local
    # part: suffix searches ("6496-3255", "jiro@") become indexed prefix searches on these.
    member_key: Mapped[str | None] = mapped_column(String(80))
    phone_rev_key: Mapped[str | None] = mapped_column(String(20))
    email_local_rev_key: Mapped[str | None] = mapped_column(String(254))


class ChangeEvent(Base):
    """A record created, deleted or undeleted, or one field of it changed, as seen by the mirror.

    `kind` is 'created', 'updated' (one row per changed field), 'deleted' or 'undeleted'.
    Automations claim unprocessed events (`processed_at IS NULL`) and mark them processed.
    A consumer that keeps its own cursor reads through `sync.feed` (by `txid`, never by id alone):
    ids are handed out at insert, not at commit, so a lower id can commit after a higher one.
    """

    __tablename__ = "change_events"
    __table_args__ = (
        Index("ix_change_events_record", "record_id", "id"),
        Index("ix_change_events_unprocessed", "processed_at", "id"),
        Index("ix_change_events_txid", "txid", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    object_name: Mapped[str] = mapped_column(String(80))
    record_id: Mapped[str] = mapped_column(String(18))
    kind: Mapped[str] = mapped_column(String(16))
    field: Mapped[str | None] = mapped_column(String(80))
    old_value: Mapped[Any | None] = mapped_column(JSONDocument)
    new_value: Mapped[Any | None] = mapped_column(JSONDocument)
    # When Salesforce says it happened (the record's SystemModstamp) and when we saw it.
    occurred_at: Mapped[datetime]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    # poll | outbound | writeback, or INITIAL_LOAD for the records of an object's first load.
    source: Mapped[str] = mapped_column(String(16))
    processed_at: Mapped[datetime | None]
    # PostgreSQL: the inserting transaction's id (server default pg_current_xact_id(), set by the
    # migration); 0 on SQLite, whose single writer commits ids in order. See sync.feed.
    txid: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))


class SyncObject(Base):
    """Sync state of one mirrored object: its cursor and how its last cycle went.

    The cursor (`cursor_stamp`, `cursor_id`) is the last (SystemModstamp, Id) read and kept: the
    next cycle reads records after it. It is checkpointed after every page, in the same
    transaction as the page's upserts, and never moves past now − SYNC_OVERLAP_SECONDS.
    """

    __tablename__ = "sync_objects"

    object_name: Mapped[str] = mapped_column(String(80), primary_key=True)
    cursor_stamp: Mapped[datetime | None]
    cursor_id: Mapped[str | None] = mapped_column(String(18))
    # getDeleted's latestDateCovered: the next delete-log read starts here.
    deletes_covered_until: Mapped[datetime | None]
    # Its fields come from the org's describe, cached by salesforce.describe (sync.describe).
    last_cycle_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_changed: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(default=0)


class SyncRun(Base):
    """One poll cycle: when, what it cost in API calls, and how it ended (for status and health)."""

    __tablename__ = "sync_runs"
    __table_args__ = (Index("ix_sync_runs_started", "started_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    # ok | failed | quota (stopped by the quota guard) | busy (another cycle held the lease)
    outcome: Mapped[str] = mapped_column(String(16), default="running")
    api_calls: Mapped[int] = mapped_column(default=0)
    records: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
