"""Topics of marketing mail (MAIL_TOPICS) and the per-topic opt-outs of the preference centre.

    known_topics(settings) -> {key: label}          # in MAIL_TOPICS order
    default_topic(settings) -> key                  # the first topic
    topic_of(value, settings) -> key                # a mail's topic, the default when it names none
    current_topic_of(value) -> key | None           # the same with the running app's settings
    topic_optouts(session, addresses) -> {address: {topic, ...}}
    set_topic_optouts(session, address, off, *, person_id, source) -> (added, removed)

An automation or broadcast names the topic of its marketing mail (`topic:` in its YAML, checked
against MAIL_TOPICS on save); the topic travels in the mail's context under CONTEXT_KEY, and the
outbox worker refuses a marketing mail whose topic its recipient switched off
(mail.consent.send_refusal), as the automations dry run does. Transactional mail has no topic.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from config import settings_of
from db import utcnow
from mail.models import TopicOptOut

# The key in an outbox mail's context naming its topic; absent means the default topic.
CONTEXT_KEY = "mail_topic"


def known_topics(settings: Any) -> dict[str, str]:
    """{topic key: Japanese label} from MAIL_TOPICS, in order."""
    return dict(settings.mail_topics)


def default_topic(settings: Any) -> str:
    """The topic of marketing mail that names none: the first of MAIL_TOPICS."""
    return next(iter(settings.mail_topics))


def topic_of(value: Any, settings: Any) -> str:
    """The topic a mail belongs to: `value` when it is one of MAIL_TOPICS, else the default topic.

    A topic no longer listed (MAIL_TOPICS changed after an automation was saved) falls back to the
    default rather than to a topic nobody can switch off.
    """
    return value if isinstance(value, str) and value in settings.mail_topics else default_topic(settings)


def current_topic_of(value: Any) -> str | None:
    """`topic_of` with the running app's settings (`value` as is outside an app)."""
    from flask import current_app, has_app_context

    if not has_app_context() or "TSUNAGI" not in current_app.config:
        return value if isinstance(value, str) and value else None
    return topic_of(value, settings_of())


def topic_optouts(session: Session, addresses: Iterable[str]) -> dict[str, set[str]]:
    """{lower-cased address: topics it switched off} (addresses with none are absent)."""
    wanted = {a.strip().lower() for a in addresses if a}
    if not wanted:
        return {}
    out: dict[str, set[str]] = {}
    for address, topic in session.execute(
            select(TopicOptOut.address, TopicOptOut.topic).where(TopicOptOut.address.in_(wanted))):
        out.setdefault(address, set()).add(topic)
    return out


def set_topic_optouts(session: Session, address: str, off: Iterable[str], *, person_id: str | None,
                      source: str) -> tuple[set[str], set[str]]:
    """Make `off` the topics `address` does not receive; (topics switched off, topics switched back on)."""
    address = address.strip().lower()
    wanted = set(off)
    current = topic_optouts(session, [address]).get(address, set())
    added, removed = wanted - current, current - wanted
    if removed:
        session.execute(delete(TopicOptOut).where(TopicOptOut.address == address, TopicOptOut.topic.in_(removed)))
    for topic in sorted(added):
        session.add(TopicOptOut(address=address, topic=topic, person_id=person_id, source=source[:64],
                                created_at=utcnow()))
    session.flush()
    return added, removed
