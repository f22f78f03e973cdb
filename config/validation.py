"""One way to check the YAML definition documents (forms, automations, the scoring model).

    DocumentError(ValueError)          a document that cannot be used
        .problems: list[Problem]       every reason found, not only the first
            Problem(path, message)     `path` into the document (`actions[2].template`, "" for the
                                       whole document) and what is wrong, for a person to fix

A format's parser makes a `Checker`, reads the document through its typed helpers (each records a
problem and returns a harmless default, so the parse goes on and finds the next problem), adds its
own checks with `bad`, and ends with `raise_if_any`. Admin pages, YAML imports and the CLI `load`
commands print `str(problem)`, "path: message". The helpers' messages are Japanese msgids
(translations/en has the English); a format passes `message=` where its own wording says more.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a document, and where."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class DocumentError(ValueError):
    """A definition document that cannot be used; `problems` lists every reason with its path."""

    def __init__(self, problems: Iterable[Problem | str]) -> None:
        self.problems = [p if isinstance(p, Problem) else Problem("", p) for p in problems]
        super().__init__("; ".join(self.messages))

    @property
    def messages(self) -> list[str]:
        """Each problem as a person reads it: "path: message"."""
        return [str(p) for p in self.problems]

    def within(self, prefix: str) -> DocumentError:
        """The same problems, each led by `prefix` (which document of several: "[2] ", "automations[0] (key): ")."""
        return DocumentError(Problem(prefix + p.path, p.message) if p.path else Problem("", prefix + p.message)
                             for p in self.problems)


def at(where: str, key: str | int) -> str:
    """The path of `key` inside `where`: at("steps[1]", "wait") is "steps[1].wait", at("steps", 1) "steps[1]"."""
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else key


def is_text(value: Any) -> bool:
    """True for what YAML gives for a scalar written as text (a number reads as text too, a bool does not)."""
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def is_int(value: Any) -> bool:
    """True for a whole number (YAML's true/false are not numbers)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """True for an int or a float (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


class Checker:
    """Collects the problems of one document; the helpers read `doc[key]` found at path `where`.

    `trim`: text is stripped and a blank value counts as missing (the forms' convention).
    """

    def __init__(self, trim: bool = False) -> None:
        self.problems: list[Problem] = []
        self.trim = trim

    def bad(self, path: str, message: str) -> None:
        """Record that the value at `path` is wrong."""
        self.problems.append(Problem(path, message))

    def ensure(self, ok: bool, path: str, message: str) -> bool:
        """Record a problem at `path` unless `ok`; return `ok`."""
        if not ok:
            self.bad(path, message)
        return ok

    def raise_if_any(self) -> None:
        """Raise DocumentError with every problem recorded so far (nothing when there is none)."""
        if self.problems:
            raise DocumentError(self.problems)

    def text(self, doc: Mapping[str, Any], key: str, where: str = "", *, required: bool = False,
             pattern: re.Pattern[str] | None = None, message: str | None = None) -> str:
        """The text at `key` ("" when absent or wrong); a number is taken as its text."""
        value = doc.get(key)
        if value is None:
            value = ""
        if not is_text(value):
            self.bad(at(where, key), _("文字列で指定してください。"))
            return ""
        value = str(value).strip() if self.trim else str(value)
        if value == "":
            if required:
                self.bad(at(where, key), _("必須です。"))
            return ""
        if pattern is not None and not pattern.match(value):
            self.bad(at(where, key), message or _("形式が正しくありません: %(value)s", value=value))
            return ""
        return value

    def choice(self, doc: Mapping[str, Any], key: str, where: str, choices: Iterable[str],
               default: str | None = None, *, message: str | None = None) -> str:
        """The value at `key` when it is one of `choices` (absent: `default`, or a problem when None)."""
        options = tuple(choices)
        value = doc.get(key, default)
        if value not in options:
            self.bad(at(where, key), message or _("%(choices)s のいずれかを指定してください（%(value)s）。",
                                                  choices=" / ".join(options), value=repr(doc.get(key))))
            return default or ""
        return str(value)

    def integer(self, doc: Mapping[str, Any], key: str, where: str, default: int | None = None, *,
                minimum: int | None = None, maximum: int | None = None, message: str | None = None) -> int:
        """The whole number at `key` (absent: `default`, or a problem when None), within [minimum, maximum]."""
        if not is_int(doc.get(key, default)):
            self.bad(at(where, key), message or _("整数で指定してください。"))
            return default or 0
        return int(self._amount(doc, key, where, default, minimum, maximum, message))

    def number(self, doc: Mapping[str, Any], key: str, where: str, default: float | None = None, *,
               minimum: float | None = None, maximum: float | None = None, message: str | None = None) -> float:
        """The number at `key` (absent: `default`, or a problem when None), within [minimum, maximum]."""
        if not is_number(doc.get(key, default)):
            self.bad(at(where, key), message or _("数値で指定してください。"))
            return default or 0
        return self._amount(doc, key, where, default, minimum, maximum, message)

    def _amount(self, doc: Mapping[str, Any], key: str, where: str, default: float | None, minimum: float | None,
                maximum: float | None, message: str | None) -> float:
        """The number at `key` (already known to be one), with a problem when it is out of range."""
        value: float = doc.get(key, default)
        if minimum is not None and value < minimum:
            self.bad(at(where, key), message or _("%(minimum)s 以上にしてください。", minimum=minimum))
        elif maximum is not None and value > maximum:
            self.bad(at(where, key), message or _("%(maximum)s 以下にしてください。", maximum=maximum))
        return value

    def flag(self, doc: Mapping[str, Any], key: str, where: str, default: bool | None = None, *,
             message: str | None = None) -> bool | None:
        """true / false at `key` (absent: `default`)."""
        value = doc.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.bad(at(where, key), message or _("true か false で指定してください。"))
            return default
        return value

    def mapping(self, doc: Mapping[str, Any], key: str, where: str, *, message: str | None = None) -> dict[str, Any]:
        """The mapping at `key` ({} when absent or wrong)."""
        value = doc.get(key) or {}
        if not isinstance(value, dict):
            self.bad(at(where, key), message or _("キーと値の組（マッピング）で指定してください。"))
            return {}
        return dict(value)

    def items(self, doc: Mapping[str, Any], key: str, where: str, *, message: str | None = None) -> list[Any]:
        """The list at `key` ([] when absent or wrong)."""
        value = doc.get(key) or []
        if not isinstance(value, list):
            self.bad(at(where, key), message or _("リストで指定してください。"))
            return []
        return value

    def unknown_keys(self, doc: Mapping[str, Any], allowed: Iterable[str], where: str = "", *,
                     message: str | None = None) -> list[str]:
        """One problem listing the keys of `doc` the format does not know (a typo is never ignored); those keys.

        `message` replaces the words before the list ("不明な項目があります: colour, size").
        """
        unknown = sorted(str(k) for k in set(doc) - set(allowed))
        if unknown:
            words = message or _("不明な項目があります")
            self.bad(where, f"{words}: {', '.join(unknown)}")
        return unknown
