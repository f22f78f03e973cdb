"""Admin pages: form definitions (list, YAML import/edit with validation, field view, describe
refresh) and each form's submissions (status, search, CSV export)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from flask import Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

import db
from config.validation import DocumentError
from forms import bp, queries, service
from forms.describe import refresh_describe, unknown_fields
from forms.models import SUBMISSION_STATUSES, FormDefinition
from forms.schema import FormSpec, dump_yaml, load_yaml, parse_spec
from people.auth import role_required
from people.service import audit
from salesforce import describe as describes
from salesforce import gateway_for
from salesforce.errors import SalesforceError
from web import current_application, found
from web.i18n import gettext as _

PAGE_SIZE = 50


@bp.route("/forms/admin/")
@role_required("admin")
def admin_list() -> ResponseReturnValue:
    """Every form definition, with the YAML import box."""
    rows = list(db.session().scalars(queries.definitions()))
    return render_template("forms/admin_list.html", rows=rows, yaml_text="", problems=[])


@bp.route("/forms/admin/", methods=["POST"])
@role_required("admin")
def admin_import() -> ResponseReturnValue:
    """Create or update definitions from pasted YAML (all or nothing; every problem listed)."""
    text = request.form.get("yaml", "")
    session = db.session()
    try:
        specs = load_yaml(text)
    except DocumentError as exc:
        rows = list(session.scalars(queries.definitions()))
        return render_template("forms/admin_list.html", rows=rows, yaml_text=text, problems=exc.messages), 400
    for spec in specs:
        row, changed = service.save_definition(session, spec)
        if changed:
            audit(session, "forms.definition.save", spec.key, after={"version": row.version})
    session.commit()
    flash(_("%(n)d 件のフォーム定義を保存しました。", n=len(specs)), "ok")
    return redirect(url_for("forms.admin_list"), code=303)


def _row(key: str) -> FormDefinition:
    row = found(service.get_definition(db.session(), key))
    return row


@bp.route("/forms/admin/<key>")
@role_required("admin")
def admin_view(key: str) -> ResponseReturnValue:
    """The definition as a field list, with describe facts and warnings."""
    session = db.session()
    row = _row(key)
    spec = service.effective_spec(session, row)
    described = describes.fields_of(session, spec.object)
    counts: dict[str, int] = dict(session.execute(queries.submission_counts(key)).all())
    return render_template("forms/admin_view.html", row=row, form=spec, described=described,
                           unknown=unknown_fields(spec, described), counts=counts)


@bp.route("/forms/admin/<key>/edit", methods=["GET", "POST"])
@role_required("admin")
def admin_edit(key: str) -> ResponseReturnValue:
    """Edit one definition as YAML; problems are listed and the text is kept."""
    session = db.session()
    row = _row(key)
    if request.method == "GET":
        return render_template("forms/admin_edit.html", row=row, yaml_text=dump_yaml([parse_spec(row.spec)]),
                               problems=[])
    text = request.form.get("yaml", "")
    try:
        specs = load_yaml(text)
        if len(specs) != 1 or specs[0].key != key:
            raise DocumentError([_("key は %(key)s のままにしてください（別のフォームは一覧から取り込みます）。",
                                   key=key)])
    except DocumentError as exc:
        return render_template("forms/admin_edit.html", row=row, yaml_text=text, problems=exc.messages), 400
    before = row.version
    row, changed = service.save_definition(session, specs[0])
    if changed:
        audit(session, "forms.definition.save", key, before={"version": before},
              after={"version": row.version})
    row.active = request.form.get("active", "1") == "1"
    session.commit()
    flash(_("保存しました（バージョン %(v)d）。", v=row.version), "ok")
    return redirect(url_for("forms.admin_view", key=key), code=303)


@bp.route("/forms/admin/<key>/describe", methods=["POST"])
@role_required("admin")
def admin_describe(key: str) -> ResponseReturnValue:
    """Refresh the org's describe of the form's objects (an explicit admin action: calls Salesforce)."""
    session = db.session()
    row = _row(key)
    objects = sorted({row.object_name, *(["Task"] if any(a.get("type") == "create_task"
                                                         for a in row.spec.get("actions", [])) else [])})
    try:
        refresh_describe(session, gateway_for(current_application()), objects)
    except SalesforceError as exc:
        session.rollback()
        flash(_("Salesforce から項目情報を取得できませんでした: %(e)s", e=str(exc)), "error")
        return redirect(url_for("forms.admin_view", key=key), code=303)
    session.commit()
    flash(_("項目情報を更新しました: %(o)s", o=", ".join(objects)), "ok")
    return redirect(url_for("forms.admin_view", key=key), code=303)


@bp.route("/forms/admin/<key>/submissions")
@role_required("admin")
def admin_submissions(key: str) -> ResponseReturnValue:
    """Submissions of one form: status filter, search and paging (newest first)."""
    session = db.session()
    row = _row(key)
    status = request.args.get("status", "")
    status = status if status in SUBMISSION_STATUSES else ""
    search = request.args.get("q", "")[:100]
    before = request.args.get("before", type=int)
    subs = list(session.scalars(queries.submissions(key, status, search, PAGE_SIZE + 1, before)))
    more = len(subs) > PAGE_SIZE
    subs = subs[:PAGE_SIZE]
    counts: dict[str, int] = dict(session.execute(queries.submission_counts(key)).all())
    spec = parse_spec(row.spec)
    return render_template("forms/submissions.html", row=row, form=spec, subs=subs, status=status,
                           search=search, counts=counts, more=more, statuses=SUBMISSION_STATUSES)


@bp.route("/forms/admin/<key>/submissions.csv")
@role_required("admin")
def admin_submissions_csv(key: str) -> ResponseReturnValue:
    """All (filtered) submissions as CSV, UTF-8 with BOM so Excel in Japan opens it correctly."""
    row = _row(key)
    spec = parse_spec(row.spec)
    db.session().close()  # release the request's transaction before streaming
    status = request.args.get("status", "")
    status = status if status in SUBMISSION_STATUSES else ""
    columns = [f.name for f in spec.fields] + [k for k in spec.hidden if spec.field(k) is None]
    header = ["受付番号", "受付日時", "状態", "Salesforce Id", "エラー", *[_label(spec, c) for c in columns]]

    search = request.args.get("q", "")[:100]
    database = db.get_db()

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        yield "\ufeff" + buffer.getvalue()
        before = None
        while True:
            # One short transaction per page (keyset by id): a long export never holds SQLite's
            # write lock or a PostgreSQL snapshot for its whole duration.
            with database.transaction() as page_session:
                page = list(page_session.scalars(queries.submissions(key, status, search, 500, before)))
            for sub in page:
                buffer.seek(0)
                buffer.truncate()
                writer.writerow([sub.id, sub.created_at.isoformat(timespec="seconds"), sub.status,
                                 sub.person_id or "", sub.error_message or "",
                                 *[_cell(sub.data.get(c)) for c in columns]])
                yield buffer.getvalue()
            if len(page) < 500:
                return
            before = page[-1].id

    filename = f"{key}-submissions.csv"
    return Response(rows(), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _label(spec: FormSpec, name: str) -> str:
    field = spec.field(name)
    return field.label if field is not None else name


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    text = str(value)
    # A cell starting with = + - @ is a formula in Excel: prefix it so data never runs as one.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
