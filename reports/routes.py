"""Admin reports: automations, campaigns, forms, deliverability, sync health, stages, data quality.

Every page takes `?from=&to=` (local days) where dates matter and `?format=csv` for a download.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy.orm import Session

import db
from config import settings_of
from people.service import audit
from reports import charts, dedupe, queries, service, snapshots
from reports.csvout import csv_response
from reports.pages import report_page
from web.i18n import gettext as _

# Rows of each data-quality section per page, and at most how many a live (unsnapshotted) page finds.
DATA_QUALITY_PAGE = snapshots.DATA_QUALITY_CHUNK
DATA_QUALITY_LIVE_ROWS = 500


def _range() -> tuple[service.DateRange, str | None]:
    zone = settings_of().timezone
    try:
        return service.parse_range(request.args, zone), None
    except service.RangeError as exc:
        return service.parse_range({}, zone), str(exc)


def _figures(rng: service.DateRange, compute: Callable[[Session], Any], part: str | None = None) -> tuple[Any, Any]:
    """The range's figures (or one `part`: campaigns, deliverability) from the fresh snapshot of the
    reports.refresh job, else `compute(session)` now; and the snapshot (None when live)."""
    session = db.session()
    return snapshots.fresh_or_live(session, snapshots.funnels_key(rng.first, rng.last),
                                   lambda: compute(session), part=part)


def _wants_csv() -> bool:
    return request.args.get("format") == "csv"


@report_page("")
def index() -> ResponseReturnValue:
    """Overview: headline figures, the automation funnel over all automations, stages, deliverability."""
    rng, error = _range()
    session = db.session()
    figures, snapshot = _figures(rng, lambda s: snapshots.automation_figures(s, rng))
    funnels = figures["funnels"]
    labels = service.funnel_labels()
    totals = [(labels[step], sum(r[step] for r in funnels)) for step in service.FUNNEL_STEPS]
    deliver = figures["deliverability"]
    stages = service.stages_report(session)
    context = {
        "snapshot": snapshot,
        # Mails sent come from the outbox (as in the charts); the rest from activity rows.
        # Opens and clicks are the funnel's figures (service.FUNNEL_BASES says what each counts):
        # activity rows counted every open of every mail, so the overview said 8 where the funnel said 2.
        "kinds": {**figures["kinds"], "mail_sent": deliver["totals"]["sent"],
                  "mail_open": dict(totals)[labels["opened"]], "mail_click": dict(totals)[labels["clicked"]]},
        "funnel_chart": charts.funnel(_("オートメーション全体のファネル"), totals, bases=service.FUNNEL_BASES),
        "deliver_chart": charts.daily(_("日別の配信状況"), deliver["days"], {
            _("送信"): deliver["series"]["sent"],
            _("バウンス"): [h + s for h, s in zip(deliver["series"]["hard_bounces"],
                                                  deliver["series"]["soft_bounces"], strict=True)],
            _("配信停止"): deliver["series"]["unsubscribes"]}),
        "stage_chart": charts.funnel(_("段階別の人数"), stages),
    }
    return render_template("reports/index.html", rng=rng, range_error=error, **context), 400 if error else 200


@report_page("automations")
def automations() -> ResponseReturnValue:
    """A funnel per automation."""
    rng, error = _range()
    figures, snapshot = _figures(rng, lambda s: snapshots.automation_figures(s, rng))
    rows = figures["funnels"]
    labels = service.funnel_labels()
    if _wants_csv() and not error:
        return csv_response(f"automations_{rng.first}_{rng.last}.csv",
                            [_("キー"), _("名前"), *(labels[s] for s in service.FUNNEL_STEPS),
                             _("開封率"), _("クリック率"), _("コンバージョン率")],
                            ([r["key"], r["name"], *(r[s] for s in service.FUNNEL_STEPS),
                              f"{r['open_rate']:.4f}", f"{r['click_rate']:.4f}", f"{r['conversion_rate']:.4f}"]
                             for r in rows))
    for row in rows:
        row["chart"] = charts.funnel(row["name"], [(labels[s], row[s]) for s in service.FUNNEL_STEPS],
                                     bases=service.FUNNEL_BASES)
    return render_template("reports/automations.html", rng=rng, range_error=error, rows=rows, snapshot=snapshot,
                           labels=labels, steps=service.FUNNEL_STEPS), 400 if error else 200


@report_page("campaigns")
def campaigns() -> ResponseReturnValue:
    """Members, responses and statuses per campaign."""
    rng, error = _range()
    rows, snapshot = _figures(rng, lambda s: queries.campaign_figures(s, rng.start, rng.end), "campaigns")
    if _wants_csv() and not error:
        return csv_response(f"campaigns_{rng.first}_{rng.last}.csv",
                            [_("キャンペーンID"), _("名前"), _("種別"), _("メンバー"), _("反応あり"),
                             _("期間中の状況変更"), _("状況別")],
                            ([r["id"], r["name"], r["type"], r["members"], r["responded"], r["changes"],
                              "; ".join(f"{k}={v}" for k, v in sorted(r["statuses"].items()))] for r in rows))
    chart = charts.funnel(_("キャンペーン別メンバー数"), [(r["name"], r["members"]) for r in rows[:15]])
    return render_template("reports/campaigns.html", rng=rng, range_error=error, rows=rows, snapshot=snapshot,
                           chart=chart), 400 if error else 200


@report_page("forms")
def forms() -> ResponseReturnValue:
    """Submissions and error rate per form."""
    rng, error = _range()
    rows = queries.form_figures(db.session(), rng.start, rng.end)
    if _wants_csv() and not error:
        return csv_response(f"forms_{rng.first}_{rng.last}.csv",
                            [_("フォーム"), _("名前"), _("送信数"), _("失敗"), _("処理中"), _("エラー率")],
                            ([r["key"], r["name"], r["submissions"], r["failed"], r["pending"],
                              f"{r['error_rate']:.4f}"] for r in rows))
    chart = charts.funnel(_("フォーム別の送信数"), [(r["name"], r["submissions"]) for r in rows])
    return render_template("reports/forms.html", rng=rng, range_error=error, rows=rows,
                           chart=chart), 400 if error else 200


@report_page("deliverability")
def deliverability() -> ResponseReturnValue:
    """Daily sent, bounces and unsubscribes."""
    rng, error = _range()
    report, snapshot = _figures(rng, lambda s: service.deliverability_report(s, rng), "deliverability")
    names = {"sent": _("送信"), "hard_bounces": _("ハードバウンス"), "soft_bounces": _("ソフトバウンス"),
             "unsubscribes": _("配信停止")}
    if _wants_csv() and not error:
        return csv_response(f"deliverability_{rng.first}_{rng.last}.csv", [_("日付"), *names.values()],
                            ([day, *(report["series"][n][i] for n in names)] for i, day in enumerate(report["days"])))
    chart = charts.daily(_("日別の配信状況"), report["days"], {names[n]: v for n, v in report["series"].items()})
    return render_template("reports/deliverability.html", rng=rng, range_error=error, report=report, names=names,
                           chart=chart, snapshot=snapshot), 400 if error else 200


@report_page("sync")
def sync_health() -> ResponseReturnValue:
    """Mirror freshness, sync errors and pending work."""
    return render_template("reports/sync.html", health=queries.sync_health(db.session()))


@report_page("stages")
def stages() -> ResponseReturnValue:
    """People per stage (the stage funnel) and per score band."""
    session = db.session()
    rows = service.stages_report(session)
    bands = queries.score_bands(session)
    if _wants_csv():
        return csv_response("stages.csv", [_("段階"), _("人数")], rows)
    return render_template("reports/stages.html", rows=rows, chart=charts.funnel(_("段階別の人数"), rows),
                           band_chart=charts.funnel(_("スコア帯別の人数"), [(f"{b}–{b + 24}", n) for b, n in bands]))


@report_page("data-quality")
def data_quality() -> ResponseReturnValue:
    """Likely duplicates, invalid emails and phones, missing fields; paged, CSV per section.

    Served from the `reports.refresh` job's snapshot (with its time) when fresh, else computed live.
    """
    session = db.session()
    required = settings_of().data_quality_required_fields
    section = request.args.get("section", "duplicates")
    page = request.args.get("page", "1")
    if not page.isdigit() or int(page) < 1:
        abort(400)
    page_no = int(page)
    snapshot = snapshots.fresh(session, snapshots.DATA_QUALITY, snapshots.max_age())
    if snapshot is not None:
        # CSV: every stored finding; a page: only its chunk of each section.
        page_of = None if _wants_csv() else page_no
        found = {name: snapshots.data_quality_rows(session, name, page_of) for name in snapshots.SECTIONS}
        found["pairs"] = dedupe.pairs_from_snapshot(session, found["pairs"])
        totals = snapshot.data["totals"]
    else:
        limit = dedupe.MAX_ROWS if _wants_csv() else DATA_QUALITY_LIVE_ROWS
        found = {"pairs": dedupe.duplicate_pairs(session, limit=limit),
                 "invalid": dedupe.invalid_contacts(session, limit=limit),
                 "missing": dedupe.missing_fields(session, required, limit=limit)}
        totals = {k: len(v) for k, v in found.items()}
        window = slice((page_no - 1) * DATA_QUALITY_PAGE, page_no * DATA_QUALITY_PAGE)
        found = found if _wants_csv() else {k: v[window] for k, v in found.items()}
    if _wants_csv():
        if section == "duplicates":
            return csv_response("duplicates.csv", [_("ID 1"), _("種別 1"), _("名前 1"), _("ID 2"), _("種別 2"),
                                                   _("名前 2"), _("一致した条件")],
                                ([p.first.sf_id, p.first.object_name, _name(p.first), p.second.sf_id,
                                  p.second.object_name, _name(p.second), ",".join(p.reasons)]
                                 for p in found["pairs"]))
        if section == "invalid":
            return csv_response("invalid.csv", [_("ID"), _("種別"), _("項目"), _("値"), _("問題")],
                                ([r["id"], r["object"], r["field"], r["value"], r["problem"]]
                                 for r in found["invalid"]))
        if section == "missing":
            return csv_response("missing.csv", [_("ID"), _("種別"), _("名前"), _("未入力の項目")],
                                ([r["id"], r["object"], r["name"], ",".join(r["missing"])]
                                 for r in found["missing"]))
        abort(404)
    pages = max(1, -(-max(totals.values()) // DATA_QUALITY_PAGE))
    return render_template("reports/data_quality.html", pairs=found["pairs"], invalid=found["invalid"],
                           missing=found["missing"], totals=totals, page=page_no, pages=pages,
                           snapshot=snapshot, name=_name,
                           reason_labels={"email": _("メールアドレス"), "phone": _("電話番号"),
                                          "name_kana_company": _("氏名・カナ・会社名")})


@report_page("data-quality/dismiss", methods=["POST"])
def dismiss_pair() -> ResponseReturnValue:
    """Mark a pair 'not a duplicate'."""
    first, second = request.form.get("first_id", ""), request.form.get("second_id", "")
    if not (first.isalnum() and second.isalnum() and len(first) <= 18 and len(second) <= 18) or first == second:
        flash(_("IDが正しくありません。"), "error")
        return redirect(url_for("reports.data_quality")), 303
    session = db.session()

    if dedupe.dismiss(session, first, second, current_user.email):
        audit(session, "reports.not_duplicate", f"{first},{second}")
    session.commit()
    flash(_("重複ではないと記録しました。"), "success")
    return redirect(url_for("reports.data_quality")), 303


def _name(record: Any) -> str:
    fields = record.fields or {}
    name = f"{fields.get('LastName') or ''} {fields.get('FirstName') or ''}".strip()
    company = fields.get("Company") or fields.get("Account.Name") or ""
    return f"{name} ({company})" if company else name
