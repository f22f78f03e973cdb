"""Saving, enabling and exporting automations and segments (used by the admin pages and the CLI)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from automations.models import Automation, Segment
from automations.spec import validate_automation, validate_segment
from config.validation import DocumentError
from db import utcnow
from mail import templates as mail_templates
from people.service import audit
from web.i18n import gettext as _

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"


def parse_yaml(text: str) -> Any:
    """Parse YAML text safely (no Python objects); a syntax error becomes a DocumentError."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{mark.line + 1}:{mark.column + 1}" if mark is not None else "?"
        raise DocumentError([_("YAML の書式エラー（%(where)s）: %(problem)s", where=where,
                           problem=getattr(exc, "problem", str(exc)))]) from None


def save_automation(session: Session, doc: Any, enabled: bool | None = None) -> tuple[Automation, bool]:
    """Create or update an automation from a document; returns (automation, created). Audit-logged.

    Editing bumps the version; `enabled` (if given) wins over the document's `enabled`.
    """
    spec = validate_automation(doc)
    want_enabled = bool(doc.get("enabled", False)) if enabled is None else enabled
    automation = session.scalar(select(Automation).where(Automation.key == spec["key"]))
    if automation is None:
        automation = Automation(key=spec["key"], name=spec["name"], spec=spec, enabled=want_enabled, version=1,
                                created_at=utcnow(), updated_at=utcnow())
        session.add(automation)
        session.flush()
        audit(session, "automation.create", spec["key"], after=spec)
        return automation, True
    if automation.spec != spec:
        audit(session, "automation.update", spec["key"], before=automation.spec, after=spec)
        automation.spec = spec
        automation.name = spec["name"]
        automation.version += 1
        automation.updated_at = utcnow()
    if automation.enabled != want_enabled:
        set_enabled(session, automation, want_enabled)
    return automation, False


def set_enabled(session: Session, automation: Automation, enabled: bool) -> None:
    """Enable or disable an automation (audit-logged). Disabled automations skip their planned steps."""
    if automation.enabled == enabled:
        return
    audit(session, "automation.enable" if enabled else "automation.disable", automation.key,
          before={"enabled": automation.enabled}, after={"enabled": enabled})
    automation.enabled = enabled
    automation.updated_at = utcnow()


def save_segment(session: Session, doc: Any) -> Segment:
    """Create or update a segment from a document (audit-logged when it changes)."""
    spec = validate_segment(doc)
    segment = session.scalar(select(Segment).where(Segment.key == spec["key"]))
    if segment is None:
        segment = Segment(key=spec["key"], name=spec["name"], spec=spec)
        session.add(segment)
        audit(session, "automations.create_segment", spec["key"], after=spec)
    elif segment.spec != spec or segment.name != spec["name"]:
        audit(session, "automations.update_segment", spec["key"], before=segment.spec, after=spec)
        segment.name, segment.spec, segment.updated_at = spec["name"], spec, utcnow()
    session.flush()
    return segment


def to_document(automation: Automation) -> dict[str, Any]:
    """The YAML-ready document of an automation (the normalized spec plus `enabled`)."""
    spec = dict(automation.spec)
    return {"key": spec.pop("key"), "name": spec.pop("name"), "enabled": automation.enabled, **spec}


def export_yaml(session: Session) -> str:
    """Every segment and automation as one YAML document (`segments:`, `automations:`)."""
    automations = [to_document(a) for a in session.scalars(select(Automation).order_by(Automation.key))]
    segments = [dict(s.spec) for s in session.scalars(select(Segment).order_by(Segment.key))]
    return yaml.safe_dump({"segments": segments, "automations": automations}, allow_unicode=True, sort_keys=False)


def load_documents(session: Session, data: Any, enable: bool | None = None) -> dict[str, int]:
    """Load `{templates, segments, automations}` (or one automation, or a list); idempotent.

    Mail templates are created through the mail package's template service when it is present.
    Raises DocumentError naming the first invalid automation.
    """
    if isinstance(data, list):
        data = {"automations": data}
    elif isinstance(data, dict) and "key" in data and "trigger" in data:
        data = {"automations": [data]}
    if not isinstance(data, dict):
        raise DocumentError([_("automations: / segments: / templates: を持つ YAML を指定してください。")])
    counts = {"templates": 0, "segments": 0, "automations": 0}
    for template in data.get("templates") or []:
        _save_template(session, template)
        counts["templates"] += 1
    for segment in data.get("segments") or []:
        save_segment(session, segment)
        counts["segments"] += 1
    for i, doc in enumerate(data.get("automations") or []):
        try:
            save_automation(session, doc, enabled=enable)
        except DocumentError as exc:
            key = doc.get("key") if isinstance(doc, dict) else None
            raise exc.within(f"automations[{i}] ({key}): ") from None
        counts["automations"] += 1
    return counts


def _save_template(session: Session, template: dict[str, Any]) -> None:
    if not isinstance(template, dict) or not all(template.get(k) for k in ("key", "subject", "html")):
        raise DocumentError([_("templates: key / subject / html を指定してください。")])
    try:
        mail_templates.save_template(session, key=template["key"], name=template.get("name") or template["key"],
                                     subject=template["subject"], html=template["html"], text=template.get("text"))
    except mail_templates.TemplateInvalid as exc:
        raise DocumentError([f"templates ({template['key']}): {e}" for e in exc.errors]) from None


def load_examples(session: Session, enable: bool = False) -> dict[str, int]:
    """Load every shipped example in automations/examples (idempotent).

    Disabled unless `enable` (the demo of `make run`): on a real org a shipped countdown would
    mail every campaign member at once. An example already loaded keeps its state.
    """
    totals = {"templates": 0, "segments": 0, "automations": 0}
    for path in sorted(EXAMPLES_DIR.glob("*.yaml")):
        data = parse_yaml(path.read_text(encoding="utf-8"))
        if not enable and isinstance(data, dict):
            for doc in data.get("automations") or []:
                loaded = session.scalar(select(Automation).where(Automation.key == doc.get("key")))
                doc["enabled"] = loaded.enabled if loaded is not None else False
        counts = load_documents(session, data, enable=True if enable else None)
        for k, v in counts.items():
            totals[k] += v
    return totals
