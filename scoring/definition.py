"""The scoring model document: parse and check the admin's YAML, match activities to rules.

The schema is described in docs/scoring.md; `scoring/examples/default.yaml` is the shipped model.
Every problem is reported in one `DocumentError` (config.validation), each naming the offending
entry, so an admin sees everything to fix at once instead of a traceback.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from activity.models import KINDS
from config.validation import Checker, DocumentError, at, is_number, is_text

DEFAULT_PATH = Path(__file__).resolve().parent / "examples" / "default.yaml"
_NAME = re.compile(r"^[a-z0-9_]{1,64}$")


@dataclass(frozen=True)
class BehaviourRule:
    """Points for one kind of activity, optionally narrowed by URL, form or campaign status."""

    name: str
    kind: str
    points: int
    label: str
    status: tuple[str, ...] = ()  # campaign member statuses that count; empty: any
    # Glob patterns (fnmatch, case-sensitive) on the activity's page URL and form key; None: any.
    url: str | None = None
    form: str | None = None

    def matches(self, kind: str, details: dict[str, Any]) -> bool:
        """True when an activity of `kind` with `details` earns this rule's points."""
        if kind != self.kind:
            return False
        if self.url is not None and not fnmatch.fnmatchcase(str(details.get("url") or ""), self.url):
            return False
        form = details.get("form") or details.get("form_key") or ""  # forms records the key as "form"
        if self.form is not None and not fnmatch.fnmatchcase(str(form), self.form):
            return False
        return not (self.status and str(details.get("status") or "") not in self.status)


@dataclass(frozen=True)
class FitRule:
    """Points for a person whose field (first non-empty of `fields`) is in a set or a range."""

    name: str
    fields: tuple[str, ...]
    points: int
    label: str
    values: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class DecayStep:
    """Behaviour points older than `older_than_days` keep `keep_percent` of their value."""

    older_than_days: int
    keep_percent: int


@dataclass(frozen=True)
class Stage:
    """A stage reached at `min_score`, optionally only after one of the named behaviour rules."""

    name: str
    min_score: int
    requires_any: tuple[str, ...] = ()


@dataclass(frozen=True)
class Threshold:
    """A score that hands a person to sales when crossed upwards."""

    name: str
    score: int
    notify_owner: bool = True
    mail_template: str = "scoring-hot-lead"
    create_task: bool = True
    task_subject: str = "ホットリード: スコア {score}"


@dataclass(frozen=True)
class ScoringDefinition:
    """A checked scoring model."""

    behaviour: tuple[BehaviourRule, ...]
    fit: tuple[FitRule, ...]
    decay: tuple[DecayStep, ...]
    stages: tuple[Stage, ...]
    thresholds: tuple[Threshold, ...]
    document: dict[str, Any] = field(default_factory=dict)

    def match(self, kind: str, details: dict[str, Any]) -> BehaviourRule | None:
        """The first behaviour rule an activity matches (order in the document decides)."""
        for rule in self.behaviour:
            if rule.matches(kind, details):
                return rule
        return None

    def rule(self, name: str) -> BehaviourRule | None:
        """The behaviour rule called `name`."""
        return next((r for r in self.behaviour if r.name == name), None)

    def keep_percent(self, age_days: float) -> int:
        """Share (in percent) of behaviour points an activity `age_days` old still counts."""
        keep = 100
        for step in sorted(self.decay, key=lambda s: s.older_than_days):
            if age_days >= step.older_than_days:
                keep = step.keep_percent
        return keep


def _name(c: Checker, entry: dict[str, Any], where: str, seen: set[str]) -> str:
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        c.bad(at(where, "name"), "'name' は英小文字・数字・_ で指定してください (name: [a-z0-9_])")
        return ""
    c.ensure(name not in seen, at(where, "name"), f"name '{name}' が重複しています (duplicate name)")
    seen.add(name)
    return name


def _whole(c: Checker, entry: dict[str, Any], key: str, where: str, default: int | None = None) -> int:
    return c.integer(entry, key, where, default,
                     message=f"'{key}' は整数で指定してください ({key} must be a whole number)")


def _strings(c: Checker, entry: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = entry.get(key)
    if value is None:
        return ()
    if is_text(value):
        return (str(value),)
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return tuple(str(v) for v in value)
    c.bad(at(where, key), f"'{key}' は文字列かそのリストで指定してください ({key} must be text or a list)")
    return ()


def _entries(c: Checker, document: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = document.get(key) or []
    if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
        c.bad(key, f"'{key}' は項目のリストで指定してください ({key} must be a list of entries)")
        return []
    return value


def parse_document(document: Any) -> ScoringDefinition:
    """Check a scoring model (already loaded from YAML/JSON) and return it typed; raise DocumentError."""
    if not isinstance(document, dict):
        raise DocumentError(["スコアリングモデルは YAML のマッピングで記述してください (must be a mapping)"])
    c = Checker()
    c.unknown_keys(document, ("version", "behaviour", "fit", "decay", "stages", "thresholds"),
                   message="不明な項目があります (unknown keys)")
    seen: set[str] = set()
    behaviour = []
    for i, entry in enumerate(_entries(c, document, "behaviour")):
        where = at("behaviour", i)
        name = _name(c, entry, where, seen)
        kind = entry.get("kind")
        c.ensure(kind in KINDS, at(where, "kind"), f"kind は {', '.join(KINDS)} のいずれかです (unknown kind {kind!r})")
        url, form = entry.get("url"), entry.get("form")
        c.ensure(url is None or isinstance(url, str), at(where, "url"),
                 "'url' は文字列のパターンです (url must be a glob pattern)")
        c.ensure(form is None or isinstance(form, str), at(where, "form"),
                 "'form' は文字列のパターンです (form must be a glob pattern)")
        behaviour.append(BehaviourRule(name=name, kind=str(kind), points=_whole(c, entry, "points", where),
                                       label=str(entry.get("label") or name), url=url, form=form,
                                       status=_strings(c, entry, "status", where)))
    fit = []
    for i, entry in enumerate(_entries(c, document, "fit")):
        where = at("fit", i)
        name = _name(c, entry, where, seen)
        fields = _strings(c, entry, "field", where)
        c.ensure(bool(fields) and all(re.fullmatch(r"[A-Za-z][A-Za-z0-9_.]*", f) for f in fields), at(where, "field"),
                 "'field' に Salesforce の項目名を指定してください (field is required)")
        values = _strings(c, entry, "in", where)
        minimum, maximum = entry.get("min"), entry.get("max")
        for key, bound in (("min", minimum), ("max", maximum)):
            c.ensure(bound is None or is_number(bound), at(where, key), f"'{key}' は数値です ({key} must be a number)")
        c.ensure(bool(values) or minimum is not None or maximum is not None, where,
                 "'in'、'min'、'max' のいずれかが必要です (give in, min or max)")
        fit.append(FitRule(name=name, fields=fields, points=_whole(c, entry, "points", where),
                           label=str(entry.get("label") or name), values=values,
                           minimum=minimum, maximum=maximum))
    decay = []
    for i, entry in enumerate(_entries(c, document, "decay")):
        where = at("decay", i)
        days, keep = _whole(c, entry, "older_than_days", where), _whole(c, entry, "keep_percent", where)
        c.ensure(days > 0 and 0 <= keep <= 100, where, "older_than_days > 0、0 ≤ keep_percent ≤ 100 にしてください")
        decay.append(DecayStep(days, keep))
    behaviour_names = {r.name for r in behaviour}
    stages = []
    stage_names: set[str] = set()
    for i, entry in enumerate(_entries(c, document, "stages")):
        where = at("stages", i)
        raw_name = entry.get("name")
        if not isinstance(raw_name, str) or not raw_name.strip() or raw_name in stage_names:
            c.bad(at(where, "name"), "'name' が空か重複しています (stage name missing or duplicate)")
            raw_name = ""
        stage_names.add(raw_name)
        requires = _strings(c, entry, "requires_any", where)
        missing = set(requires) - behaviour_names
        c.ensure(not missing, at(where, "requires_any"),
                 f"未定義の行動ルールです (unknown rules): {', '.join(sorted(missing))}")
        stages.append(Stage(name=raw_name, min_score=_whole(c, entry, "min_score", where, 0), requires_any=requires))
    thresholds = []
    for i, entry in enumerate(_entries(c, document, "thresholds")):
        where = at("thresholds", i)
        thresholds.append(Threshold(
            name=_name(c, entry, where, seen), score=_whole(c, entry, "score", where),
            notify_owner=bool(entry.get("notify_owner", True)),
            mail_template=str(entry.get("mail_template") or "scoring-hot-lead"),
            create_task=bool(entry.get("create_task", True)),
            task_subject=str(entry.get("task_subject") or "ホットリード: スコア {score}"),
        ))
    c.raise_if_any()
    return ScoringDefinition(tuple(behaviour), tuple(fit), tuple(decay), tuple(stages), tuple(thresholds),
                             document=document)


def parse_yaml(text: str) -> ScoringDefinition:
    """Parse a scoring model from YAML text (safe loader only); raise DocumentError naming every problem."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DocumentError([f"YAML を読めません (invalid YAML): {exc}"]) from None
    return parse_document(document)


def dump_yaml(document: dict[str, Any]) -> str:
    """The model as YAML, keys in document order, Japanese kept readable."""
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


def default_definition() -> ScoringDefinition:
    """The shipped model (scoring/examples/default.yaml)."""
    return parse_yaml(DEFAULT_PATH.read_text(encoding="utf-8"))
