"""Operator and field-sales pages, and the JSON lookups they use while typing."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy.orm import Session

import db
from config import settings_of
from forms import bp, customers, flow, lookup, outcome, queries, service, views, visits
from forms.inputs import Cleaned, address_for_postal
from forms.models import FormDefinition, Submission
from forms.schema import FieldSpec, FormSpec
from people.auth import role_required
from sync import read
from web.i18n import gettext as _

_STAFF_AUDIENCES = {"operator": ("operator",), "sales": ("sales",), "admin": ("operator", "sales")}


def _audiences() -> tuple[str, ...]:
    return _STAFF_AUDIENCES.get(current_user.role, ())


@bp.route("/forms/")
@role_required("operator", "sales")
def index() -> ResponseReturnValue:
    """The forms this person may fill in."""
    session = db.session()
    rows = [r for r in session.scalars(queries.definitions()) if r.active and r.audience in _audiences()]
    return render_template("forms/index.html", rows=rows)


@bp.route("/forms/api/people")
@role_required("operator", "sales")
def api_people() -> ResponseReturnValue:
    """As-you-type lookup in the mirror by phone, mail, name or kana (JSON; no Salesforce call)."""
    typed = request.args.get("q", "")[:100]
    people = read.person_objects()
    objects = tuple(o for o in request.args.get("objects", "").split(",") if o in people)
    return jsonify(results=lookup.search_people(db.session(), typed, objects=objects or people))


@bp.route("/forms/api/postal/<code>")
def api_postal(code: str) -> ResponseReturnValue:
    """Address parts for a postal code (public: postal data is not personal)."""
    address = address_for_postal(code[:10])
    if address is None:
        return jsonify(error=_("郵便番号が見つかりません。")), 404
    return jsonify(address)


def _staff_page(key: str) -> tuple[Session, views.Page]:
    session = db.session()
    row, spec = views.load_form(session, key, _audiences())
    # Leads and Contacts alike: a member calling in must be found, whatever the form writes.
    objects = ",".join(read.person_objects())
    return session, views.Page(
        row=row, spec=spec, action=url_for("forms.entry", key=key), token="", typed={},
        new_url=url_for("forms.entry", key=key),
        lookup_url=url_for("forms.api_people", objects=objects),
    )


@bp.route("/forms/<key>", methods=["GET"])
@role_required("operator", "sales")
def entry(key: str) -> ResponseReturnValue:
    """A blank form, or one prefilled from the customer chosen in the lookup (`?person=`)."""
    session, page = _staff_page(key)
    person_id = request.args.get("person", "")
    if person_id:
        page.person = lookup.get_person(session, person_id)
        if page.person is None:
            flash(_("選んだお客様が見つかりません。もう一度検索してください。"), "error")
    page.token = views.new_token()
    page.typed = views.prefill_values(page.spec, page.person)
    if page.person is not None and page.spec.is_person_form and page.person.object_name != page.spec.object:
        page.typed.update(_other_kind_prefill(page.spec, page.person))
    return views.render_entry(page)


def _other_kind_prefill(spec, person) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """A Lead form's typed values from a chosen Contact (or back), address fields renamed."""
    from forms.person_fields import field_name

    values = {}
    for f in spec.fields:
        source = field_name(f.name, spec.object, person.object_name)
        value = (person.fields or {}).get(source) if source else None
        if value not in (None, ""):
            values[f.name] = "1" if value is True else str(value)
    return values


@bp.route("/forms/<key>", methods=["POST"])
@role_required("operator", "sales")
def entry_post(key: str) -> ResponseReturnValue:
    """Confirm, go back to edit, or submit (the same token always gives the same submission)."""
    return flow.post(StaffEntry(key))


class StaffEntry:
    """A signed-in operator or sales rep posting a form (a forms.flow.Audience; the route checks the role)."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.session, self.page = _staff_page(key)
        self.person_id: str | None = None

    def admit(self) -> ResponseReturnValue | None:
        """The customer chosen in the look-up (`_person`), if any; staff are never turned away here."""
        self.person_id = request.form.get("_person", "") or None
        if self.person_id:
            self.page.person = lookup.get_person(self.session, self.person_id)
        return None

    def duplicates(self, cleaned: Cleaned) -> list[dict[str, Any]]:
        """People with the typed phone or mail, when this entry would create a new person."""
        if self.page.spec.is_person_form and self.page.person is None:
            return lookup.possible_duplicates(self.session, cleaned.values)
        return []

    def hold(self) -> ResponseReturnValue | None:
        """Nothing holds a signed-in entry back."""
        return None

    def accept(self, session: Session, values: dict[str, Any]) -> service.Accepted:
        """Written as this user's entry, for the chosen customer (or matched by its values)."""
        return service.accept_submission(session, self.page.row, self.page.spec, values, token=self.page.token,
                                         person_id=self.person_id, created_by=current_user.id)

    def done(self, accepted: service.Accepted) -> ResponseReturnValue:
        """The done page with the reception number and the write-back's outcome."""
        return redirect(url_for("forms.done", key=self.key, submission_id=accepted.submission.id), code=303)


@bp.route("/forms/<key>/done/<int:submission_id>")
@role_required("operator", "sales")
def done(key: str, submission_id: int) -> ResponseReturnValue:
    """Accepted: the reception number, and the way to the next blank form (Alt+N)."""
    session, page = _staff_page(key)
    sub = _own_submission(session, submission_id)
    if sub is None or sub.form_key != key:
        abort(404)
    return render_template("forms/done.html", page=page, form=page.spec, submission=sub, outcome=outcome.outcome)


@bp.route("/forms/<key>/done/<int:submission_id>/status")
@role_required("operator", "sales")
def done_status(key: str, submission_id: int) -> ResponseReturnValue:
    """The write-back outcome of a submission as JSON (the done page polls it)."""
    session = db.session()
    sub = _own_submission(session, submission_id)  # reception numbers are sequential: own entries only
    if sub is None or sub.form_key != key:
        abort(404)
    if sub.status in ("pending", "failed") and service.refresh_status(session, sub):
        session.commit()
    return jsonify(outcome.outcome(sub))


def _own_submission(session: Session, submission_id: int) -> Submission | None:
    """A submission the signed-in person may read: their own entry (admins: any), else None.

    Reception numbers are sequential: without this check anyone signed in could read every
    entry (a visit result, the customer's answers) by counting up.
    """
    sub = session.get(Submission, submission_id)
    if sub is None or (current_user.role != "admin" and sub.created_by != current_user.id):
        return None
    return sub


# --- field sales ---------------------------------------------------------------------------

def _visit_form() -> tuple[Session, FormDefinition, FormSpec, FieldSpec]:
    session = db.session()
    key = settings_of().forms_visit_form_key
    row, spec = views.load_form(session, key, ("sales",))
    result_field = next((f for f in spec.fields if f.type in ("radio", "picklist")), None)
    if result_field is None:
        abort(404)
    return session, row, spec, result_field


@bp.route("/forms/visit")
@role_required("sales")
def visit() -> ResponseReturnValue:
    """Tap 1: find the customer (as-you-type lookup); after a tap, what was recorded and 取り消す."""
    session, _row, spec, result_field = _visit_form()
    recorded, who, undo = None, None, ""
    if request.args.get("recorded", "").isdigit():
        recorded = _own_submission(session, int(request.args["recorded"]))
        if recorded is None or recorded.form_key != spec.key:
            abort(404)
        person = lookup.get_person(session, recorded.person_id or "")
        who = lookup.summarize(person)["name"] if person is not None else recorded.person_id
        undo = "window" if visits.can_undo(session, recorded, _undo_seconds()) else (
            "day" if visits.can_withdraw(session, recorded) else "")
    return render_template("forms/visit_search.html", form=spec, recorded=recorded, result_name=result_field.name,
                           memo_fields=_memo_fields(spec), who=who, outcome=request.args.get("outcome", "new"),
                           previous=request.args.get("previous", ""), undo=undo,
                           undo_seconds=_undo_seconds(), lookup_url=url_for("forms.api_people"),
                           customers=customers.page_for(session, current_user, request.args.get("q", ""),
                                                        request.args.get("after", "")))


def customers_panel() -> ResponseReturnValue:
    """担当のお客様 on the sales home page (the first page; searching and paging go on at /forms/visit)."""
    from markupsafe import Markup

    page = customers.page_for(db.session(), current_user)
    return Markup(render_template("forms/home_customers.html", customers=page))  # noqa: S704  (our template)


def _memo_fields(spec: FormSpec) -> list[FieldSpec]:
    """The visit form's free-text fields (the memo, written to the Task's Description)."""
    return [f for f in spec.fields if f.type == "textarea" and f.write]


def _undo_seconds() -> int:

    return settings_of().forms_visit_undo_seconds


@bp.route("/forms/visit/<person_id>", methods=["GET", "POST"])
@role_required("sales")
def visit_person(person_id: str) -> ResponseReturnValue:
    """Tap 2: one big button per visit result; one visit per person and day (see forms.visits)."""
    session, row, spec, result_field = _visit_form()
    person = lookup.get_person(session, person_id)
    if person is None:
        abort(404)
    today = visits.todays_visit(session, spec.key, person_id)
    if request.method == "GET":
        return _visit_person_page(session, spec, person, result_field, today, (today.data or {}) if today else {})
    views.posted_token()
    cleaned = views.clean_posted(spec)
    if not cleaned.ok:
        # The memo the rep typed stays on the page with the reason beside it; other reasons on top.
        typed = {f.name: request.form.get(f.name, "") for f in _memo_fields(spec)}
        for name, message in cleaned.errors.items():
            if name not in typed:
                flash(message, "error")
        return _visit_person_page(session, spec, person, result_field, today, typed, cleaned.errors), 400
    values = views.with_task_date(spec, cleaned.values)
    try:
        outcome = visits.record_visit(session, row, spec, result_field, values, person_id=person_id,
                                      created_by=current_user.id, undo_seconds=_undo_seconds())
    except visits.VisitError as exc:
        session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("forms.visit_person", person_id=person_id))
    session.commit()
    return redirect(url_for("forms.visit", recorded=outcome.submission.id, outcome=outcome.kind,
                            previous=outcome.previous or None), code=303)


def _visit_person_page(session, spec, person, result_field, today, memo, errors=None):  # type: ignore[no-untyped-def]
    """The customer's visit screen: the result buttons, the memo, and today's visit with 取り消す."""
    return render_template("forms/visit_person.html", form=spec, person=person, summary=lookup.summarize(person),
                           field=result_field, token=views.new_token(), memo_fields=_memo_fields(spec), memo=memo,
                           errors=errors or {}, today=today,
                           withdraw=today is not None and visits.can_withdraw(session, today))


@bp.route("/forms/visit/undo/<int:submission_id>", methods=["POST"])
@role_required("sales")
def visit_undo(submission_id: int) -> ResponseReturnValue:
    """取り消す: withdraw a visit (its Task and so its follow-up mail) inside the undo window."""
    session, _row, spec, _field = _visit_form()
    sub = _own_submission(session, submission_id)
    if sub is None or sub.form_key != spec.key:
        abort(404)
    person = lookup.get_person(session, sub.person_id or "")
    name = lookup.summarize(person)["name"] if person is not None else sub.person_id
    if sub.status == visits.WITHDRAWN:  # a second tap on 取り消す, or Back and again
        flash(_("%(name)s 様の訪問記録はすでに取り消してあります。", name=name), "ok")
        return redirect(url_for("forms.visit"), code=303)
    try:
        done = visits.undo_visit(session, sub)
    except visits.VisitError as exc:
        session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("forms.visit"), code=303)
    session.commit()
    flash(_("%(name)s 様の訪問記録を取り消しました。", name=name), "ok")
    if done.task_deleted:
        flash(_("Salesforce に書き込み済みの訪問記録（ToDo）を削除します。"), "ok")
    if done.mail == "stopped":
        flash(_("お客様へのご案内メールは送信前に止めました。"), "ok")
    elif done.mail == "sent":
        flash(_("お客様へのご案内メールはすでに送信済みのため、取り消せません。必要ならお客様にご連絡ください。"),
              "error")
    return redirect(url_for("forms.visit"), code=303)
