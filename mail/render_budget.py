"""A budget for every template render: output size, time, and no value that outgrows the output.

Templates are written by admins and rendered once per mail, so one careless (or hostile) template
must not take a worker's memory or CPU: `{{ 'a' * 100000000 }}` would build 100 MB per mail.

    BudgetedSandbox         the sandbox with the checks below (mail.templates builds on it)
    render_bounded(parts)   render several templates within one budget; RenderBudgetExceeded if over

- **Size.** The output of one render (subject, HTML and text together) is at most MAX_CHARS
  characters. Operations that would build a value larger than that are refused *before* they run:
  `*`, `+`, `**` and `%` on strings, lists and numbers; str methods and filters that pad, repeat,
  join or replace (`center`, `ljust`, `zfill`, `join`, `replace`, `indent`, `format`…), format
  strings with huge widths. Jinja's sandbox already caps `range()` at 100,000 items.
- **Time.** A render stops after MAX_SECONDS: the output is produced as a stream and the clock is
  checked at every chunk. When a template is saved or previewed (`watch_loops`), a line tracer on
  the template's own code also checks it inside loops that print nothing. Per mail the tracer is
  left out — it triples the cost of a render (150 → 500 µs for a typical mail) — so a loop that
  prints nothing and runs long only with real data (not with the sample data it was saved with)
  is not stopped by the clock; Jinja's cap of 100,000 items per `range()` still bounds it.
  (The tracer also stands aside while a debugger or coverage tool owns the trace hook.)

RenderBudgetExceeded is a Jinja SecurityError, so every caller that handles template errors (save,
preview, the outbox's per-mail failure) handles it too.
"""

from __future__ import annotations

import functools
import math
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

from jinja2 import Template
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

# A mail body is tens of kilobytes (Gmail clips messages over 102 KB); a million characters is far
# above any real mail and far below what would hurt a worker.
MAX_CHARS = 1_000_000
MAX_SECONDS = 2.0
# Printf-style and str.format widths/precisions of 6+ digits (or `*`): padding to a million characters.
_PRINTF_WIDTH = re.compile(r"%[^a-zA-Z%]*?(?:\*|\d{6,})")
_FORMAT_WIDTH = re.compile(r"\{[^{}]*:[^{}]*\d{6,}[^{}]*\}")
_PADDING_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})


class RenderBudgetExceeded(SecurityError):
    """A render that would exceed its size or time budget (the message says which)."""


def _too_big(size: float) -> None:
    if size > MAX_CHARS:
        raise RenderBudgetExceeded(f"result would exceed {MAX_CHARS:,} characters")


def _length(value: Any) -> int | None:
    return len(value) if isinstance(value, (str, list, tuple)) else None


def _check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse `left <operator> right` when its result would be larger than the budget."""
    if operator == "*":
        for seq, count in ((left, right), (right, left)):
            size = _length(seq)
            if size is not None and isinstance(count, int):
                _too_big(size * count)
    elif operator == "+":
        if (a := _length(left)) is not None and (b := _length(right)) is not None:
            _too_big(a + b)
    elif operator == "**":
        if isinstance(left, (int, float)) and isinstance(right, (int, float)) and abs(left) > 1 and right > 0:
            _too_big(right * math.log10(abs(left)) / 64)  # digits, with a generous allowance
    elif operator == "%" and isinstance(left, str) and _PRINTF_WIDTH.search(left):
        raise RenderBudgetExceeded("format width too large")


def _check_format_string(text: Any) -> None:
    if isinstance(text, str) and (_FORMAT_WIDTH.search(text) or _PRINTF_WIDTH.search(text)):
        raise RenderBudgetExceeded("format width too large")


def _big_int(values: Sequence[Any]) -> bool:
    return any(isinstance(v, int) and not isinstance(v, bool) and v > MAX_CHARS for v in values)


def _check_str_method(target: str, name: str, args: Sequence[Any], kwargs: dict[str, Any]) -> None:
    """Padding, joining and replacing methods of str, checked against the budget before they run."""
    values = [*args, *kwargs.values()]
    if name in _PADDING_METHODS and _big_int(values):
        raise RenderBudgetExceeded("padding too large")
    if name == "expandtabs" and values and isinstance(values[0], int):
        _too_big(len(target) * values[0])
    if name == "join" and args:
        items = args[0]
        if isinstance(items, (list, tuple, range)):
            _too_big(len(target) * max(len(items) - 1, 0) + sum(len(str(i)) for i in list(items)[:100_000]))
    if name == "replace" and len(args) >= 2 and isinstance(args[1], str):
        _too_big(len(target) * max(len(args[1]), 1))
    if name in ("format", "format_map"):
        _check_format_string(target)


def _guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """`func` with its arguments checked against the budget (the sandbox calls filters directly)."""

    @functools.wraps(func)  # keeps `jinja_pass_arg` (pass_context / pass_environment filters)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        plain = [a for a in args if not hasattr(a, "environment") and not hasattr(a, "filters")]
        if name == "join" and plain and not isinstance(plain[0], (str, list, tuple, range, dict)):
            # A generator (e.g. from `map`) is counted before joining: materialize it once.
            items = list(plain[0])
            args = tuple(items if a is plain[0] else a for a in args)
            plain[0] = items
        values = [*plain, *kwargs.values()]
        if name in ("center", "indent") and _big_int(values[1:]):
            raise RenderBudgetExceeded("padding too large")
        if name == "format" and values:
            _check_format_string(values[0])
        if name == "replace" and len(values) >= 3 and isinstance(values[0], str) and isinstance(values[2], str):
            _too_big(len(values[0]) * max(len(values[2]), 1))
        if name == "join" and values and isinstance(values[0], (list, tuple, range)):
            separator = values[1] if len(values) > 1 and isinstance(values[1], str) else ""
            _too_big(len(separator) * max(len(values[0]) - 1, 0))
        return func(*args, **kwargs)

    return guarded


class BudgetedSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, refusing operations whose result would outgrow the render budget."""

    intercepted_binops = frozenset({"*", "+", "**", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = {name: _guard_filter(name, f) for name, f in self.filters.items()}

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        """Check the size of the result first, then do what Jinja would."""
        _check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        """Check str methods that can build big strings, then call as Jinja would."""
        target = getattr(__obj, "__self__", None)
        wrapped = getattr(getattr(__obj, "__wrapped__", None), "__self__", None)  # sandboxed str.format
        if isinstance(wrapped, str):
            _check_format_string(wrapped)
        if isinstance(target, str):
            name = getattr(__obj, "__name__", "")
            if name == "join" and args and not isinstance(args[0], (str, list, tuple, range, dict)):
                args = (list(args[0]), *args[1:])  # count a generator's items before joining them
            _check_str_method(target, name, args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)


@contextmanager
def _deadline(until: float) -> Iterator[None]:
    """Stop template code (compiled from "<template>") running past `until` (time.monotonic)."""
    if sys.gettrace() is not None:  # a debugger or coverage owns the hook: the chunk checks remain
        yield
        return

    def local(_frame: Any, event: str, _arg: Any) -> Any:
        if event == "line" and time.monotonic() > until:
            raise RenderBudgetExceeded(f"rendering took longer than {MAX_SECONDS:g} s")
        return local

    def calls(frame: Any, _event: str, _arg: Any) -> Any:
        return local if frame.f_code.co_filename == "<template>" else None

    sys.settrace(calls)
    try:
        yield
    finally:
        sys.settrace(None)


def render_bounded(parts: Sequence[tuple[Template, dict[str, Any]]], watch_loops: bool = False) -> list[str]:
    """Render each (template, context) within one size and time budget; RenderBudgetExceeded if over.

    `watch_loops` also stops loops that print nothing (a line tracer: for save and preview).
    """
    until = time.monotonic() + MAX_SECONDS
    size = 0
    out: list[str] = []
    with _deadline(until) if watch_loops else nullcontext():
        for template, context in parts:
            chunks: list[str] = []
            for chunk in template.generate(context):
                size += len(chunk)
                if size > MAX_CHARS:
                    raise RenderBudgetExceeded(f"output would exceed {MAX_CHARS:,} characters")
                if time.monotonic() > until:
                    raise RenderBudgetExceeded(f"rendering took longer than {MAX_SECONDS:g} s")
                chunks.append(chunk)
            out.append("".join(chunks))
    return out
