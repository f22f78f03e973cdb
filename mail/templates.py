"""Mail templates: saving with validation, compiling once, rendering, previewing.

The stable API other packages use:

    save_template(session, *, key, name, subject, html, text=None) -> MailTemplate
        Create or replace the template `key` (a slug: a-z, 0-9, '_', '-', '.'). Raises
        TemplateInvalid (its `.errors` is a list of Japanese messages) for bad syntax, unknown
        merge fields or sandbox violations. `text=None` generates the text part from the HTML.
    get_template(session, key) -> MailTemplate | None
    context_for_record(session, sf_id) -> dict   {"person": …, "account": …, "owner": …} from the mirror

Templates are Jinja2 in an ImmutableSandboxedEnvironment with StrictUndefined: a field that is
not in the context is an error, never a silent blank. Fallbacks use `default`, which here also
replaces None and "" (Salesforce sends null for empty fields): `{{ person.LastName | default("お客") }} 様`.
Merge roots: person (alias contact, lead), account, owner, links and data (free-form, from the
caller), mail (unsubscribe_url, preferences_url), sender (name, address, contact).
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, Undefined, meta, nodes
from jinja2.exceptions import SecurityError, TemplateError
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import utcnow
from mail.models import MailTemplate
from mail.render_budget import BudgetedSandbox, RenderBudgetExceeded, render_bounded
from sync import read
from web.i18n import gettext as _

KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")

PERSON_FIELDS = frozenset({
    "Id", "FirstName", "LastName", "Name", "Email", "Phone", "MobilePhone", "Title", "Company",
    "Salutation", "Department", "MailingPostalCode", "MailingState", "MailingCity", "MailingStreet",
    "PostalCode", "State", "City", "Street", "LeadSource", "Status", "OwnerId", "AccountId",
    "HasOptedOutOfEmail", "Birthdate", "Description", "Industry", "Website",
})
ACCOUNT_FIELDS = frozenset({"Id", "Name", "Phone", "Website", "Industry", "BillingPostalCode", "BillingState",
                            "BillingCity", "BillingStreet", "OwnerId"})
OWNER_FIELDS = frozenset({"Id", "Name", "FirstName", "LastName", "Email", "Phone", "Title", "Department"})
# Roots whose fields are checked; None: any key (links are named by the caller).
ROOTS: dict[str, frozenset[str] | None] = {
    "person": PERSON_FIELDS, "contact": PERSON_FIELDS, "lead": PERSON_FIELDS,
    "account": ACCOUNT_FIELDS, "owner": OWNER_FIELDS, "links": None, "data": None,
    "mail": frozenset({"unsubscribe_url", "preferences_url"}), "sender": frozenset({"name", "address", "contact"}),
    # What the callers add: automations the triggering record (any object) and its campaign, and
    # themselves; forms the form and submission; scoring the score that crossed a threshold.
    "record": None, "campaign": None, "automation": frozenset({"key", "name"}),
    # The tsunagi user who entered the triggering record on a form (e.g. the rep who recorded a visit).
    "rep": frozenset({"name", "phone"}),
    "form": frozenset({"key", "title"}), "submission": frozenset({"id"}),
    "scoring": frozenset({"score", "threshold"}),
}
PARTS = (("subject", "件名"), ("html", "HTML本文"), ("text", "テキスト本文"))


class TemplateInvalid(ValueError):
    """A template that cannot be saved; `errors` lists what is wrong, in the user's language."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def _default(value: Any, fallback: Any = "", boolean: bool = False) -> Any:
    """Jinja's default, but None and "" also fall back (Salesforce sends null for empty fields)."""
    if isinstance(value, Undefined) or value is None or value == "":
        return fallback
    if boolean and not value:
        return fallback
    return value


def _finalize(value: Any) -> Any:
    return "" if value is None else value


_envs: dict[bool, BudgetedSandbox] = {}
_envs_lock = threading.Lock()


def environment(html: bool) -> BudgetedSandbox:
    """The sandboxed environment for HTML (autoescaped) or plain text, within the render budget."""
    with _envs_lock:
        env = _envs.get(html)
        if env is None:
            env = BudgetedSandbox(undefined=StrictUndefined, autoescape=html, finalize=_finalize)
            env.filters["default"] = env.filters["d"] = _default
            _envs[html] = env
        return env


@dataclass(frozen=True)
class CompiledTemplate:
    """The compiled parts of one version of a template."""

    key: str
    version: int
    subject: Template
    html: Template
    text: Template | None
    has_style: bool
    # The text part made from the HTML source when no text part was written (see _derived_text).
    derived_text: Template | None = None


@dataclass(frozen=True)
class RenderedMail:
    """Subject, HTML and text of one mail, before the compliance footer and tracking."""

    subject: str
    html: str
    text: str


_compiled: dict[tuple[str, int, str], CompiledTemplate] = {}
_compiled_lock = threading.Lock()


def compile_template(key: str, version: int, subject: str, html: str, text: str | None) -> CompiledTemplate:
    """Compile (or take from the cache) one version of a template."""
    # The source digest is part of the key: another database (tests, a restored backup) may
    # hold a different template under the same key and version.
    digest = hashlib.sha1("\0".join((subject, html, text or "")).encode(), usedforsecurity=False).hexdigest()
    with _compiled_lock:
        found = _compiled.get((key, version, digest))
    if found is not None:
        return found
    made = _compile(key, version, subject, html, text)
    with _compiled_lock:
        if len(_compiled) > 1000:  # templates are few; this only bounds a pathological edit loop
            _compiled.clear()
        _compiled[(key, version, digest)] = made
    return made


def compiled_for(row: MailTemplate) -> CompiledTemplate:
    """The compiled form of a stored template."""
    return compile_template(row.key, row.version, row.subject, row.html, row.text)


def with_aliases(context: dict[str, Any]) -> dict[str, Any]:
    """`contact` and `lead` name the same person as `person` unless given separately."""
    ctx = dict(context)
    person = ctx.get("person")
    if person is not None:
        ctx.setdefault("contact", person)
        ctx.setdefault("lead", person)
    return ctx


def clean_header_text(value: str) -> str:
    """One line of text: CR, LF, tabs and runs of spaces become one space (no header injection)."""
    return " ".join(value.split())


def render(template: CompiledTemplate, context: dict[str, Any], watch_loops: bool = False) -> RenderedMail:
    """Render subject, HTML (CSS inlined) and text (generated from the HTML if not written).

    Within the render budget (mail.render_budget); `watch_loops` for save and preview.
    """
    ctx = with_aliases(context)
    text_part = template.text if template.text is not None else template.derived_text
    parts = [(template.subject, ctx), (template.html, ctx), *([(text_part, ctx)] if text_part else [])]
    # One size and time budget for the whole mail (mail.render_budget): RenderBudgetExceeded if over.
    rendered = render_bounded(parts, watch_loops)
    subject, html = clean_header_text(rendered[0]), rendered[1]
    if template.has_style:
        import css_inline

        html = css_inline.inline(html)
    text = rendered[2] if text_part is not None else html_to_text(html)
    return RenderedMail(subject=subject, html=html, text=text)


class _TextExtractor(HTMLParser):
    BLOCKS = frozenset({"p", "div", "br", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "li", "table", "ul", "ol",
                        "hr", "blockquote", "section", "article", "header", "footer"})
    SKIP = frozenset({"style", "script", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping = 0
        self.href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCKS:
            self.out.append("\n")
            if tag == "li":
                self.out.append("・")
        elif tag == "a":
            self.href = dict(attrs).get("href")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCKS:
            self.out.append("\n")
        elif tag == "a" and self.href:
            if self.href.startswith(("http://", "https://")):
                self.out.append(f" ( {self.href} )")
            self.href = None

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.out.append(re.sub(r"[ \t\r\n]+", " ", data))


def html_to_text(html: str) -> str:
    """A readable plain-text version of an HTML mail (links kept as URLs)."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.out).split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def _merge_fields(ast: nodes.Template) -> list[tuple[str, str | None]]:
    """(root, first field) pairs used by a template, e.g. ("person", "LastName")."""
    roots = meta.find_undeclared_variables(ast)
    found: list[tuple[str, str | None]] = [(root, None) for root in sorted(roots)]
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        if isinstance(node, nodes.Getattr):
            target, field = node.node, node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            target, field = node.node, node.arg.value
        else:
            continue
        if isinstance(target, nodes.Name) and target.name in roots:
            found.append((target.name, field))
    return found


def known_fields(session: Session | None) -> dict[str, frozenset[str] | None]:
    """Fields a template may use: the standard ones plus any field seen on mirrored records."""
    roots = dict(ROOTS)
    if session is None:
        return roots
    extra: dict[str, set[str]] = {"person": set(), "account": set(), "owner": set()}
    for obj, root in (("Contact", "person"), ("Lead", "person"), ("Account", "account"), ("User", "owner")):
        rows = session.scalars(select(read.Mirror.fields).where(read.Mirror.object_name == obj).limit(50))
        for fields in rows:
            extra[root].update(fields)
    for root, names in extra.items():
        roots[root] = (roots[root] or frozenset()) | names
    roots["contact"] = roots["lead"] = roots["person"]
    return roots


class _AnyField(dict[str, str]):
    """Sample data for free-form roots (links, data): any key gives a placeholder."""

    def __missing__(self, key: str) -> str:
        return f"[{key}]"


def sample_context(roots: dict[str, frozenset[str] | None], record: dict[str, Any] | None = None) -> dict[str, Any]:
    """A context with a placeholder for every known field, overlaid with a real record's values."""
    ctx: dict[str, Any] = {}
    for root, names in roots.items():
        ctx[root] = _AnyField() if names is None else {name: f"[{name}]" for name in names}
    ctx["mail"] = {"unsubscribe_url": "https://example.invalid/u/sample",
                   "preferences_url": "https://example.invalid/p/sample"}
    for root, values in (record or {}).items():
        if isinstance(values, dict):
            ctx[root] = {**ctx.get(root, {}), **values}
    return ctx


def validate(session: Session | None, subject: str, html: str, text: str | None) -> list[str]:
    """Everything wrong with a template (empty list: it can be saved)."""
    errors: list[str] = []
    roots = known_fields(session)
    sources = {"subject": subject, "html": html, "text": text}
    if not subject.strip():
        errors.append(_("件名を入力してください。"))
    if not html.strip():
        errors.append(_("HTML本文を入力してください。"))
    parsed: dict[str, bool] = {}
    for part, label in PARTS:
        source = sources[part]
        if not source:
            continue
        try:
            ast = environment(part == "html").parse(source)
        except TemplateSyntaxError as exc:
            errors.append(_("%(part)sの%(line)s行目: 書式の誤り (%(msg)s)", part=_(label), line=exc.lineno,
                            msg=exc.message or ""))
            continue
        try:
            fields = _merge_fields(ast)  # compiles the template: unknown filters and tests fail here
        except TemplateSyntaxError as exc:
            errors.append(_("%(part)sの%(line)s行目: 書式の誤り (%(msg)s)", part=_(label), line=exc.lineno,
                            msg=exc.message or ""))
            continue
        parsed[part] = True
        for root, field in fields:
            if root not in roots:
                errors.append(_("%(part)s: 不明な差し込み項目 %(name)s", part=_(label), name=root))
            elif field is not None and roots[root] is not None and field not in (roots[root] or ()):
                errors.append(_("%(part)s: 不明な差し込み項目 %(name)s", part=_(label), name=f"{root}.{field}"))
    if errors or len(parsed) < sum(1 for p, _l in PARTS if sources[p]):
        return errors
    try:
        render(_uncached(subject, html, text), sample_context(roots), watch_loops=True)
    except RenderBudgetExceeded as exc:
        errors.append(_("差し込み結果が大きすぎるか、時間がかかりすぎます (%(msg)s)", msg=str(exc)))
    except SecurityError as exc:
        errors.append(_("使用できない操作が含まれています (%(msg)s)", msg=str(exc)))
    except TemplateError as exc:
        errors.append(_("差し込みに失敗しました (%(msg)s)", msg=str(exc)))
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        errors.append(_("差し込みに失敗しました (%(msg)s)", msg=f"{type(exc).__name__}: {exc}"))
    return errors


def _uncached(subject: str, html: str, text: str | None) -> CompiledTemplate:
    return _compile("", 0, subject, html, text)


def _derived_text(html: str) -> Template | None:
    """A text template made once from the HTML template's source, or None when that is not safe.

    Converting the source rather than every rendered mail saves most of the per-mail cost of the
    text part. Template tags survive the conversion as text; when they would not (a tag that looks
    like markup, or one inside a <style>), the text part is converted per mail instead.
    """
    if "<style" in html.lower():
        return None
    source = html_to_text(html)
    tags = re.findall(r"{[{%#].*?[}%#]}", html, re.DOTALL)
    kept = re.findall(r"{[{%#].*?[}%#]}", source, re.DOTALL)
    if [" ".join(t.split()) for t in tags] != [" ".join(t.split()) for t in kept]:
        return None
    try:
        return environment(False).from_string(source)
    except TemplateSyntaxError:
        return None


def _compile(key: str, version: int, subject: str, html: str, text: str | None) -> CompiledTemplate:
    return CompiledTemplate(
        key=key, version=version, subject=environment(False).from_string(subject),
        html=environment(True).from_string(html),
        text=environment(False).from_string(text) if text else None, has_style="<style" in html.lower(),
        derived_text=None if text else _derived_text(html),
    )


def get_template(session: Session, key: str) -> MailTemplate | None:
    """The template named `key`, or None."""
    return session.scalar(select(MailTemplate).where(MailTemplate.key == key))


def save_template(session: Session, *, key: str, name: str, subject: str, html: str,
                  text: str | None = None) -> MailTemplate:
    """Create or replace template `key` after validating it (raises TemplateInvalid)."""
    errors: list[str] = []
    if not KEY_PATTERN.match(key or ""):
        errors.append(_("キーは半角英小文字・数字・_ - . で入力してください。"))
    if not (name or "").strip():
        errors.append(_("名前を入力してください。"))
    text = text if text and text.strip() else None
    errors += validate(session, subject or "", html or "", text)
    if errors:
        raise TemplateInvalid(errors)
    row = get_template(session, key)
    if row is None:
        row = MailTemplate(key=key, name=name.strip(), subject=subject, html=html, text=text, version=1)
        session.add(row)
    else:
        row.name, row.subject, row.html, row.text = name.strip(), subject, html, text
        row.version += 1
        row.updated_at = utcnow()
    session.flush()
    return row


def context_for_record(session: Session, sf_id: str) -> dict[str, Any]:
    """Merge data for a mirrored Lead/Contact: the person, their Account and their owner."""
    ctx: dict[str, Any] = {}
    person = read.record(session, sf_id)
    if person is None:
        return ctx
    ctx["person"] = read.merge_fields(person.object_name, person.fields)
    for field, root in (("AccountId", "account"), ("OwnerId", "owner")):
        related_id = person.fields.get(field)
        related = read.record(session, related_id) if related_id else None
        if related is not None:
            ctx[root] = dict(related.fields)
    return ctx


def preview(session: Session, *, subject: str, html: str, text: str | None,
            record_id: str | None = None) -> RenderedMail:
    """Render a draft against a mirrored record (or placeholders); raises TemplateInvalid."""
    errors = validate(session, subject, html, text)
    if errors:
        raise TemplateInvalid(errors)
    record = context_for_record(session, record_id) if record_id else None
    try:
        return render(_uncached(subject, html, text or None), sample_context(known_fields(session), record),
                      watch_loops=True)
    except RenderBudgetExceeded as exc:  # the record's own values can make a render too big
        raise TemplateInvalid([_("差し込み結果が大きすぎるか、時間がかかりすぎます (%(msg)s)", msg=str(exc))]) from None
    except (TemplateError, TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise TemplateInvalid([_("差し込みに失敗しました (%(msg)s)", msg=f"{type(exc).__name__}: {exc}")]) from None
