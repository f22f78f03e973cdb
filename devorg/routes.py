"""Admin pages of the dev org: browse and edit records as a person in Salesforce, inject faults.

Thin views over `devorg.admin.OrgAdmin`; the org itself runs in its own process (`devorg serve`).
"""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale

from config import settings_of
from devorg import bp
from devorg.admin import OrgAdmin, OrgRefused, OrgUnavailable, changed_values, display_value
from devorg.limits import FAULT_KINDS
from people.auth import role_required
from web.i18n import gettext as _

PAGE = 50
# What a URL may name: an sObject API name (Lead, Visit_Result__c…) and a 15/18-character record id.
OBJECT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,79}")
RECORD_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")


@bp.url_value_preprocessor
def _check_path_values(_endpoint: str | None, values: dict[str, Any] | None) -> None:
    """404 for an object name or record id that is not one (e.g. "%2E%2E" reaching the org's admin API)."""
    values = values or {}
    if "object_name" in values and not OBJECT_NAME.fullmatch(str(values["object_name"])):
        abort(404)
    if "record_id" in values and values["record_id"] != "new" and not RECORD_ID.fullmatch(str(values["record_id"])):
        abort(404)


def _tz() -> ZoneInfo:
    return ZoneInfo(settings_of().timezone)


def _label(item: dict[str, Any]) -> str:
    return str(item.get("label_en") if get_locale().language == "en" else item.get("label_ja"))


def _unavailable(error: OrgUnavailable) -> ResponseReturnValue:
    current_app.logger.info("devorg admin: org unavailable: %s", error)
    return render_template("devorg/unavailable.html"), 503


@bp.route("/")
@role_required("admin")
def index() -> ResponseReturnValue:
    """Objects with counts, injected faults and Outbound Message deliveries."""
    try:
        admin = OrgAdmin.from_settings(settings_of())
        objects = admin.call("GET", "objects")
        faults = admin.call("GET", "faults")
        outbound = admin.call("GET", "outbound")
    except OrgUnavailable as error:
        return _unavailable(error)
    return render_template("devorg/index.html", objects=objects, faults=faults, outbound=outbound,
                           kinds=FAULT_KINDS, label=_label)


@bp.route("/o/<object_name>")
@role_required("admin")
def records(object_name: str) -> ResponseReturnValue:
    """Records of one object, most recently changed first, with a search box."""
    search = request.args.get("search", "")
    offset = max(request.args.get("offset", 0, type=int), 0)
    deleted = request.args.get("deleted") == "1"
    try:
        page = OrgAdmin.from_settings(settings_of()).call(
            "GET", f"records/{object_name}",
            params={"search": search, "offset": offset, "limit": PAGE, "deleted": "1" if deleted else ""})
    except OrgUnavailable as error:
        return _unavailable(error)
    except OrgRefused:
        return render_template("error.html", code=404, message=_("そのオブジェクトはありません。")), 404
    shown = [f for f in page["fields"] if f["name"] in _COLUMNS.get(object_name, ("Name",))]
    return render_template("devorg/records.html", object_name=object_name, page=page, columns=shown,
                           search=search, offset=offset, size=PAGE, deleted=deleted, label=_label)


_COLUMNS = {
    "Lead": ("Name", "LastNameKana__c", "Company", "Email", "Phone", "Status", "Score__c"),
    "Contact": ("Name", "LastNameKana__c", "Email", "Phone", "Absent__c", "Score__c"),
    "Account": ("Name", "Phone", "BillingCity"),
    "Task": ("Subject", "ActivityDate", "Status", "Visit_Result__c", "WhoId"),
    "Event": ("Subject", "StartDateTime", "Location", "WhoId"),
    "Campaign": ("Name", "Status", "StartDate", "EndDate"),
    "CampaignMember": ("CampaignId", "LeadId", "ContactId", "Status"),
    "User": ("Name", "Username", "Email", "IsActive"),
}


def _edit_page(object_name: str, data: dict[str, Any], record_id: str | None,
               form: Any = None) -> str:
    record = data.get("record") or {}
    values = {f["name"]: display_value(f, record.get(f["name"]), _tz()) for f in data["fields"]}
    if form is not None:
        values.update({k: v for k, v in form.items() if k != "csrf_token"})
        for field in data["fields"]:
            if field["type"] == "boolean":
                values[field["name"]] = "true" if form.get(field["name"]) == "true" else ""
    return render_template("devorg/record.html", object_name=object_name, data=data, record=record,
                           record_id=record_id, values=values, label=_label)


@bp.route("/o/<object_name>/<record_id>", methods=["GET", "POST"])
@role_required("admin")
def record(object_name: str, record_id: str) -> ResponseReturnValue:
    """View and edit one record as a person in Salesforce would (saving fires Outbound Messages)."""
    try:
        admin = OrgAdmin.from_settings(settings_of())
        data = admin.call("GET", f"records/{object_name}/{record_id}")
    except OrgUnavailable as error:
        return _unavailable(error)
    except OrgRefused:
        return render_template("error.html", code=404, message=_("そのレコードはありません。")), 404
    if request.method == "POST":
        changes = changed_values(data["fields"], request.form, data["record"], _tz())
        if not changes:
            flash(_("変更はありませんでした。"), "ok")
            return redirect(url_for("devorg.record", object_name=object_name, record_id=record_id))
        return _save(admin, object_name, data, record_id, changes, _("保存しました。"))
    return _edit_page(object_name, data, record_id)


@bp.route("/o/<object_name>/new", methods=["GET", "POST"])
@role_required("admin")
def create(object_name: str) -> ResponseReturnValue:
    """Create a record as a person would."""
    try:
        admin = OrgAdmin.from_settings(settings_of())
        listing = admin.call("GET", f"records/{object_name}", params={"limit": 1})
    except OrgUnavailable as error:
        return _unavailable(error)
    except OrgRefused:
        return render_template("error.html", code=404, message=_("そのオブジェクトはありません。")), 404
    data = {"fields": listing["fields"], "label_ja": listing["label_ja"], "label_en": listing["label_en"]}
    if request.method == "POST":
        values = changed_values(data["fields"], request.form, None, _tz())
        return _save(admin, object_name, data, None, values, _("作成しました。"))
    return _edit_page(object_name, data, None)


def _save(admin: OrgAdmin, object_name: str, data: dict[str, Any], record_id: str | None,
          values: dict[str, Any], done: str) -> ResponseReturnValue:
    """Update the record (or create one when `record_id` is None) with the edit page's values; on a
    refusal the page again with the org's message, else the record's page."""
    try:
        if record_id is None:
            record_id = admin.call("POST", f"records/{object_name}", json=values)["id"]
        else:
            admin.call("PATCH", f"records/{object_name}/{record_id}", json=values)
    except OrgRefused as error:
        flash(_("保存できませんでした: %(message)s (%(code)s)", message=error.message, code=error.code), "error")
        return _edit_page(object_name, data, record_id, request.form), 400
    except OrgUnavailable as error:
        return _unavailable(error)
    flash(done, "ok")
    return redirect(url_for("devorg.record", object_name=object_name, record_id=record_id))


@bp.route("/o/<object_name>/<record_id>/<action>", methods=["POST"])
@role_required("admin")
def recycle(object_name: str, record_id: str, action: str) -> ResponseReturnValue:
    """Delete to the recycle bin, or undelete."""
    if action not in ("delete", "undelete"):
        return render_template("error.html", code=404, message=_("ページが見つかりません。")), 404
    try:
        admin = OrgAdmin.from_settings(settings_of())
        if action == "delete":
            admin.call("DELETE", f"records/{object_name}/{record_id}")
            flash(_("ごみ箱に移しました。"), "ok")
        else:
            admin.call("POST", f"records/{object_name}/{record_id}/undelete")
            flash(_("ごみ箱から戻しました。"), "ok")
    except OrgUnavailable as error:
        return _unavailable(error)
    except OrgRefused as error:
        flash(_("できませんでした: %(message)s (%(code)s)", message=error.message, code=error.code), "error")
    return redirect(url_for("devorg.record", object_name=object_name, record_id=record_id))


@bp.route("/faults", methods=["POST"])
@role_required("admin")
def faults() -> ResponseReturnValue:
    """Inject a fault, clear them all, or expire every token."""
    action = request.form.get("action", "inject")
    try:
        admin = OrgAdmin.from_settings(settings_of())
        if action == "clear":
            admin.call("DELETE", "faults")
            flash(_("障害の注入をすべて解除しました。"), "ok")
        elif action == "expire":
            admin.call("POST", "expire-tokens")
            flash(_("すべてのアクセストークンを失効させました。"), "ok")
        else:
            count = request.form.get("count", "1").strip()
            delay = request.form.get("delay", "1").strip()
            if request.form.get("kind") not in FAULT_KINDS or not count.isdigit() or int(count) < 1:
                flash(_("種類と回数 (1 以上) を正しく指定してください。"), "error")
                return redirect(url_for("devorg.index"))
            try:
                seconds = float(delay or 1)
            except ValueError:
                flash(_("遅延は秒数で指定してください。"), "error")
                return redirect(url_for("devorg.index"))
            admin.call("POST", "faults", json={
                "path_regex": request.form.get("path_regex") or ".", "kind": request.form["kind"],
                "count": int(count), "method": request.form.get("method") or None, "delay": seconds})
            flash(_("障害を注入しました。"), "ok")
    except OrgUnavailable as error:
        return _unavailable(error)
    except OrgRefused as error:
        flash(_("できませんでした: %(message)s (%(code)s)", message=error.message, code=error.code), "error")
    return redirect(url_for("devorg.index"))
