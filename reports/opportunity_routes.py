"""The sales funnel page (商談ファネル): lead → hot lead → opportunity → won, and campaign influence.

`?from=&to=` are local days (default: the first day of the month five months back to today);
`?format=csv` downloads the funnel rows, `?format=csv&table=influence` the campaign influence.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import render_template, request
from flask.typing import ResponseReturnValue

import db
from config import settings_of
from reports import charts, service, snapshots
from reports import opportunities as funnel_queries
from reports.csvout import csv_response
from reports.pages import report_page
from web.i18n import gettext as _


def _range() -> tuple[service.DateRange, str | None]:
    zone = settings_of().timezone
    default = {"from": funnel_queries.default_from(datetime.now(ZoneInfo(zone)).date()).isoformat()}
    args = dict(request.args)
    if not args.get("from"):
        args["from"] = default["from"]
    try:
        return service.parse_range(args, zone), None
    except service.RangeError as exc:
        return service.parse_range(default, zone), str(exc)


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _csv_rows(report: dict[str, Any], source_label: Any) -> list[list[Any]]:
    rows: list[list[Any]] = []
    sections = [(_("合計"), [report["total"]]), (_("月別"), report["months"]), (_("リード作成月別"), report["cohorts"]),
                (_("ソース別"), report["sources"]), (_("キャンペーン別"), report["campaigns"])]
    for section, items in sections:
        for r in items:
            label = r.get("name") or (source_label(r["key"]) if section == _("ソース別") else r["key"])
            if section == _("合計"):
                label = _("合計")
            rows.append([section, r["key"] if section == _("キャンペーン別") else "", label, r["leads"], r["mqls"],
                         r["opportunities"], f"{r['opportunity_amount']:.0f}", r["won"], f"{r['won_amount']:.0f}",
                         _rate(r["opportunity_rate"]), _rate(r["win_rate"])])
    return rows


@report_page("opportunities")
def opportunities() -> ResponseReturnValue:
    """The funnel by month, source and campaign, with 商談化率, 受注率, amounts and campaign influence."""
    rng, error = _range()
    session = db.session()
    # The default range comes from the reports.refresh job's snapshot when it is fresh (the funnel
    # groups every person's events: seconds at a million people); other ranges are computed now.
    figures, snapshot = snapshots.fresh_or_live(session, snapshots.opportunities_key(rng.first, rng.last),
                                                lambda: funnel_queries.figures(session, rng))
    report, influence = figures["funnel"], figures["influence"]

    def source_label(key: str) -> str:
        return key or _("(なし)")

    if request.args.get("format") == "csv" and not error:
        if request.args.get("table") == "influence":
            return csv_response(f"campaign_influence_{rng.first}_{rng.last}.csv",
                                [_("キャンペーンID"), _("キャンペーン"), _("受注商談"), _("ファーストタッチ"),
                                 _("ラストタッチ"), _("均等配分")],
                                ([r["campaign_id"], r["name"], r["opportunities"], f"{r['first_touch']:.0f}",
                                  f"{r['last_touch']:.0f}", f"{r['even_split']:.2f}"] for r in influence))
        return csv_response(f"opportunity_funnel_{rng.first}_{rng.last}.csv",
                            [_("区分"), _("キャンペーンID"), _("項目"), _("リード"), _("ホットリード"), _("商談"),
                             _("商談金額"), _("受注"), _("受注金額"), _("商談化率"), _("受注率")],
                            _csv_rows(report, source_label))
    total = report["total"]
    chart = charts.funnel(_("商談ファネル"), [(_("リード"), total["leads"]), (_("ホットリード"), total["mqls"]),
                                            (_("商談"), total["opportunities"]), (_("受注"), total["won"])])
    tables = {"months": [{**r, "label": r["key"]} for r in report["months"]],
              "cohorts": [{**r, "label": r["key"]} for r in report["cohorts"]],
              "sources": [{**r, "label": source_label(r["key"])} for r in report["sources"]],
              "campaigns": [{**r, "label": r["name"]} for r in report["campaigns"]]}
    return render_template("reports/opportunities.html", rng=rng, range_error=error, report=report,
                           tables=tables, influence=influence, chart=chart, snapshot=snapshot), 400 if error else 200
