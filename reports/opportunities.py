"""The sales funnel over the mirror: lead → hot lead (MQL) → opportunity → won, and campaign influence.

Every figure is computed in SQL over `mirror_records` (and scoring's threshold crossings), for the
local days [first, last] of a `reports.service.DateRange`. Definitions (docs/reports.md, "商談ファネル"):

- リード: a Lead created in the range, or a Contact created in the range that no converted Lead
  points at (a converted lead is already counted as its Lead). Its source is its `LeadSource`.
- ホットリード (MQL): a person handed to sales in the range — a scoring threshold crossing, or a
  mirrored Task whose Subject starts with a threshold's hand-off subject (the Task the hand-off
  writes, or one a person made the same way). Counted once per person per group.
- 商談: an Opportunity created in the range; its source is its `LeadSource`, its campaign its
  primary campaign source `CampaignId`.
- 受注: an Opportunity with `IsWon` whose `CloseDate` is in the range.
- 商談化率 = 商談 / リード; 受注率 = 受注 / 商談 (of the same group and range).
- Campaign influence of the won opportunities: touches are the primary campaign source and the
  campaign memberships of the opportunity's people (its ContactId, its contact roles, the lead
  converted into it) that began no later than the opportunity was created. First touch gives the
  whole amount to the earliest touch, last touch to the latest, even split divides it equally.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from reports.service import DateRange
from scoring.service import active_definition
from sync import read

NO_SOURCE = ""  # the group of records without a LeadSource / campaign
_DEFAULT_HANDOFF_SUBJECT = "ホットリード: スコア {score}"


class _Sql:
    """SQL fragments that differ between SQLite and PostgreSQL."""

    def __init__(self, session: Session, rng: DateRange) -> None:
        self.dialect = session.get_bind().dialect
        self.pg = self.dialect.name == "postgresql"
        self.zone = rng.zone.key
        # SQLite has no time zones: the zone's offset at the range's start (exact for Japan).
        offset = datetime.combine(rng.first, datetime.min.time(), rng.zone).utcoffset()
        self.minutes = int(offset.total_seconds() // 60) if offset else 0

    def text(self, alias: str, name: str) -> str:
        """A field of a mirrored record as text (`sync.read.field_text`)."""
        return read.sql_text(read.field_text(name, read.mirror_table(alias).c), self.dialect)

    def number(self, alias: str, name: str) -> str:
        """A numeric field (NULL when not a number), as NUMERIC so that sums of amounts stay exact."""
        number = read.sql_text(read.field_number(name, read.mirror_table(alias).c), self.dialect)
        return f"CAST({number} AS NUMERIC)" if self.pg else number

    def true(self, alias: str, name: str) -> str:
        """A checkbox field is true."""
        return f"({self.text(alias, name)} = 'true')"

    def day_of_stamp(self, expr: str) -> str:
        """The local day (YYYY-MM-DD) of a Salesforce datetime text in UTC."""
        if self.pg:
            return f"to_char(({expr})::timestamptz AT TIME ZONE '{self.zone}', 'YYYY-MM-DD')"
        return f"date(substr({expr}, 1, 19), '{self.minutes:+d} minutes')"

    def day_of_column(self, column: str) -> str:
        """The local day of a UTC timestamp column."""
        if self.pg:
            return f"to_char({column} AT TIME ZONE '{self.zone}', 'YYYY-MM-DD')"
        return f"date({column}, '{self.minutes:+d} minutes')"


def _handoff_prefixes(session: Session) -> list[str]:
    """The Subject prefixes of hand-off Tasks: each threshold's task_subject up to its first {field}."""
    try:
        subjects = [t.task_subject for t in active_definition(session).thresholds]
    except Exception:
        subjects = []
    prefixes = {s.split("{", 1)[0] for s in subjects or [_DEFAULT_HANDOFF_SUBJECT]}
    return sorted(p for p in prefixes if p.strip())


def _people_sql(q: _Sql, alias: str = "r") -> str:
    """SQL condition: the record is a person of the person model (Lead, Contact, Person Account…).

    Field names come from the validated PERSON_MODEL (Salesforce API names only), never from a request.
    """
    parts = []
    for obj in read.person_model().objects:
        cond = f"{alias}.object_name = '{obj.name}'"
        parts.append(f"({cond} AND {q.true(alias, obj.person_flag)})" if obj.person_flag else cond)
    return " OR ".join(parts) or "1 = 0"


def _conversion_field(kind: str) -> str | None:
    """The converted Lead's field linking to its `kind` (contact, account, opportunity), if people convert."""
    lead = read.person_model().get("Lead")
    return lead.conversion.get(kind) if lead is not None else None


def _person_conversion_links() -> list[str]:
    """The converted Lead's fields naming the person it became: its Contact, and its Person Account
    when Accounts are people."""
    links = [_conversion_field("contact")]
    if read.person_model().get("Account") is not None:
        links.append(_conversion_field("account"))
    return [link for link in links if link is not None]


def _not_converted_sql(q: _Sql) -> str:
    """AND-clauses leaving out the people a converted Lead became (already counted as that Lead)."""
    return "".join(f"""
       AND r.sf_id NOT IN (SELECT {q.text('c', link)} FROM mirror_records c
                            WHERE c.object_name = 'Lead' AND NOT c.is_deleted AND {q.text('c', link)} IS NOT NULL)"""
                   for link in _person_conversion_links())


def _events_sql(q: _Sql, prefixes: list[str]) -> str:
    """One row per funnel event: step, day, person, source, campaign, opportunity, amount."""
    like = " OR ".join(f"{q.text('t', 'Subject')} LIKE :prefix{i} || '%'" for i in range(len(prefixes))) or "1 = 0"
    person_source = f"{q.text('p', 'LeadSource')}"
    return f"""
    SELECT 'lead' AS step, {q.day_of_stamp(q.text('r', 'CreatedDate'))} AS day, r.sf_id AS person_id,
           {q.text('r', 'LeadSource')} AS source, NULL AS campaign_id, NULL AS opportunity_id,
           CAST(NULL AS NUMERIC) AS amount
      FROM mirror_records r
     WHERE ({_people_sql(q)}) AND NOT r.is_deleted{_not_converted_sql(q)}
    UNION ALL
    SELECT 'mql', {q.day_of_column('x.crossed_at')}, x.person_id, {person_source}, NULL, NULL, NULL
      FROM score_threshold_crossings x
      LEFT JOIN mirror_records p ON p.sf_id = x.person_id
    UNION ALL
    SELECT 'mql', substr({q.text('t', 'ActivityDate')}, 1, 10), {q.text('t', 'WhoId')}, {person_source},
           NULL, NULL, NULL
      FROM mirror_records t
      LEFT JOIN mirror_records p ON p.sf_id = {q.text('t', 'WhoId')}
     WHERE t.object_name = 'Task' AND NOT t.is_deleted AND {q.text('t', 'WhoId')} IS NOT NULL
       AND {q.text('t', 'ActivityDate')} IS NOT NULL AND ({like})
    UNION ALL
    SELECT 'opportunity', {q.day_of_stamp(q.text('o', 'CreatedDate'))}, {q.text('o', 'ContactId')},
           {q.text('o', 'LeadSource')}, {q.text('o', 'CampaignId')}, o.sf_id, {q.number('o', 'Amount')}
      FROM mirror_records o
     WHERE o.object_name = 'Opportunity' AND NOT o.is_deleted
    UNION ALL
    SELECT 'won', substr({q.text('o', 'CloseDate')}, 1, 10), {q.text('o', 'ContactId')},
           {q.text('o', 'LeadSource')}, {q.text('o', 'CampaignId')}, o.sf_id, {q.number('o', 'Amount')}
      FROM mirror_records o
     WHERE o.object_name = 'Opportunity' AND NOT o.is_deleted AND {q.true('o', 'IsWon')}
    """


def _converted_people_sql(q: _Sql) -> str:
    """UNION part: (opportunity, lead) of every Lead converted into an opportunity."""
    link = _conversion_field("opportunity")
    if link is None:
        return ""
    return f"""
      UNION
      SELECT {q.text('l', link)}, l.sf_id
        FROM mirror_records l
       WHERE l.object_name = 'Lead' AND NOT l.is_deleted AND {q.text('l', link)} IS NOT NULL"""


def _membership_sql(q: _Sql) -> str:
    """Campaign memberships: campaign, person, the local day and UTC stamp they began."""
    return f"""
    SELECT {q.text('m', 'CampaignId')} AS campaign_id,
           COALESCE({q.text('m', 'ContactId')}, {q.text('m', 'LeadId')}) AS person_id,
           {q.day_of_stamp(q.text('m', 'CreatedDate'))} AS day, {q.text('m', 'CreatedDate')} AS stamp
      FROM mirror_records m
     WHERE m.object_name = 'CampaignMember' AND NOT m.is_deleted
    """


def _params(rng: DateRange, prefixes: list[str]) -> dict[str, Any]:
    return {"first": rng.first.isoformat(), "last": rng.last.isoformat(), "none": NO_SOURCE,
            **{f"prefix{i}": p for i, p in enumerate(prefixes)}}


def _with_rates(row: dict[str, Any]) -> dict[str, Any]:
    row["opportunity_rate"] = row["opportunities"] / row["leads"] if row["leads"] else None
    row["win_rate"] = row["won"] / row["opportunities"] if row["opportunities"] else None
    row["opportunity_amount"] = float(row["opportunity_amount"] or 0)
    row["won_amount"] = float(row["won_amount"] or 0)
    return row


def _aggregate(group: str | None) -> str:
    """Counts per group (or over everything when `group` is None): distinct people for leads and
    hot leads, distinct opportunities after."""
    return f"""
    SELECT {group or "'all'"} AS grp,
           COUNT(DISTINCT CASE WHEN step = 'lead' THEN person_id END) AS leads,
           COUNT(DISTINCT CASE WHEN step = 'mql' THEN person_id END) AS mqls,
           COUNT(DISTINCT CASE WHEN step = 'opportunity' THEN opportunity_id END) AS opportunities,
           SUM(CASE WHEN step = 'opportunity' THEN amount END) AS opportunity_amount,
           COUNT(DISTINCT CASE WHEN step = 'won' THEN opportunity_id END) AS won,
           SUM(CASE WHEN step = 'won' THEN amount END) AS won_amount
      FROM events WHERE day BETWEEN :first AND :last
     {f"GROUP BY {group}" if group else ""}
    """


def _aliases_sql(q: _Sql) -> str:
    """UNION parts: (lead, id) of the records a lead became when converted (its Contact, its Person Account)."""
    return "".join(f"""
      UNION
      SELECT l.person_id, {q.text('c', link)} FROM leads l JOIN mirror_records c ON c.sf_id = l.person_id
       WHERE {q.text('c', link)} IS NOT NULL""" for link in _person_conversion_links())


def _cohorts_sql(q: _Sql) -> str:
    """Counts per cohort: the month a lead was created (leads of the range), and what became of those
    leads by the range's end — handed to sales, opportunities (of the lead, of what it was converted
    into, or its converted opportunity) and the won ones, with amounts."""
    link = _conversion_field("opportunity")
    converted_opportunity = f"""
      UNION
      SELECT l.person_id, {q.text('c', link)} FROM leads l JOIN mirror_records c ON c.sf_id = l.person_id
       WHERE {q.text('c', link)} IS NOT NULL""" if link else ""
    return f""",
    leads AS (
      SELECT person_id, MIN(day) AS day FROM events
       WHERE step = 'lead' AND day BETWEEN :first AND :last GROUP BY person_id
    ),
    aliases AS (
      SELECT person_id AS lead_id, person_id AS alias FROM leads{_aliases_sql(q)}
    ),
    per_lead AS (
      SELECT l.person_id, substr(l.day, 1, 7) AS cohort,
             (SELECT COUNT(*) FROM aliases a JOIN events e ON e.person_id = a.alias
               WHERE a.lead_id = l.person_id AND e.step = 'mql' AND e.day <= :last) AS handoffs
        FROM leads l
    ),
    lead_opportunities AS (
      SELECT a.lead_id, e.opportunity_id FROM aliases a
        JOIN events e ON e.step = 'opportunity' AND e.person_id = a.alias{converted_opportunity}
    ),
    cohort_opportunities AS (
      SELECT DISTINCT p.cohort, o.opportunity_id, o.amount, w.opportunity_id AS won_id, w.amount AS won_amount
        FROM per_lead p JOIN lead_opportunities lo ON lo.lead_id = p.person_id
        JOIN events o ON o.step = 'opportunity' AND o.opportunity_id = lo.opportunity_id AND o.day <= :last
        LEFT JOIN events w ON w.step = 'won' AND w.opportunity_id = lo.opportunity_id AND w.day <= :last
    )
    SELECT p.cohort AS grp, COUNT(*) AS leads, SUM(CASE WHEN p.handoffs > 0 THEN 1 ELSE 0 END) AS mqls,
           (SELECT COUNT(*) FROM cohort_opportunities c WHERE c.cohort = p.cohort) AS opportunities,
           (SELECT SUM(c.amount) FROM cohort_opportunities c WHERE c.cohort = p.cohort) AS opportunity_amount,
           (SELECT COUNT(c.won_id) FROM cohort_opportunities c WHERE c.cohort = p.cohort) AS won,
           (SELECT SUM(c.won_amount) FROM cohort_opportunities c WHERE c.cohort = p.cohort) AS won_amount
      FROM per_lead p GROUP BY p.cohort
    """


def funnel(session: Session, rng: DateRange) -> dict[str, Any]:
    """The funnel of the range: totals, by month, by source and by campaign (rows of counts and rates)."""
    q = _Sql(session, rng)
    prefixes = _handoff_prefixes(session)
    params = _params(rng, prefixes)
    events = f"WITH events AS ({_events_sql(q, prefixes)}) "

    def rows(group: str | None) -> list[dict[str, Any]]:
        result = session.execute(text(events + _aggregate(group)), params).mappings()
        return [_with_rates({**r, "key": r["grp"] if r["grp"] is not None else NO_SOURCE}) for r in result]

    total = rows(None)
    months = sorted(rows("substr(day, 1, 7)"), key=lambda r: r["key"])
    cohort_rows = session.execute(text(events + _cohorts_sql(q)), params).mappings()
    cohorts = sorted((_with_rates({**r, "key": r["grp"]}) for r in cohort_rows), key=lambda r: r["key"])
    sources = sorted(rows("COALESCE(source, :none)"), key=lambda r: (r["key"] == NO_SOURCE, r["key"]))
    return {"total": total[0] if total else _with_rates(_empty("all")), "months": months, "cohorts": cohorts,
            "sources": sources,
            "campaigns": by_campaign(session, rng)}


def _empty(key: str) -> dict[str, Any]:
    return {"key": key, "leads": 0, "mqls": 0, "opportunities": 0, "opportunity_amount": 0, "won": 0,
            "won_amount": 0}


def by_campaign(session: Session, rng: DateRange) -> list[dict[str, Any]]:
    """Per campaign: members who joined in the range (its leads), members handed off in the range
    after joining, opportunities and won deals whose primary campaign source it is."""
    q = _Sql(session, rng)
    prefixes = _handoff_prefixes(session)
    sql = f"""
    WITH events AS ({_events_sql(q, prefixes)}), members AS ({_membership_sql(q)}),
    steps AS (
      SELECT 'lead' AS step, m.day, m.person_id, m.campaign_id, NULL AS opportunity_id,
             CAST(NULL AS NUMERIC) AS amount
        FROM members m
      UNION ALL
      SELECT 'mql', e.day, e.person_id, m.campaign_id, NULL, NULL
        FROM events e JOIN members m ON m.person_id = e.person_id AND m.day <= e.day
       WHERE e.step = 'mql'
      UNION ALL
      SELECT e.step, e.day, e.person_id, e.campaign_id, e.opportunity_id, e.amount
        FROM events e WHERE e.step IN ('opportunity', 'won') AND e.campaign_id IS NOT NULL
    )
    SELECT s.campaign_id AS grp, {q.text('c', 'Name')} AS name,
           COUNT(DISTINCT CASE WHEN step = 'lead' THEN s.person_id END) AS leads,
           COUNT(DISTINCT CASE WHEN step = 'mql' THEN s.person_id END) AS mqls,
           COUNT(DISTINCT CASE WHEN step = 'opportunity' THEN opportunity_id END) AS opportunities,
           SUM(CASE WHEN step = 'opportunity' THEN amount END) AS opportunity_amount,
           COUNT(DISTINCT CASE WHEN step = 'won' THEN opportunity_id END) AS won,
           SUM(CASE WHEN step = 'won' THEN amount END) AS won_amount
      FROM steps s LEFT JOIN mirror_records c ON c.sf_id = s.campaign_id
     WHERE s.day BETWEEN :first AND :last
     GROUP BY s.campaign_id, {q.text('c', 'Name')}
    """
    result = session.execute(text(sql), _params(rng, prefixes)).mappings()
    rows = [_with_rates({**r, "key": r["grp"], "name": r["name"] or r["grp"]}) for r in result]
    return sorted(rows, key=lambda r: (-r["won_amount"], -r["opportunities"], r["name"]))


def influence(session: Session, rng: DateRange) -> list[dict[str, Any]]:
    """Campaign influence on the won opportunities closed in the range: first touch, last touch and
    even split of their amounts, per campaign (see the module docstring for what a touch is)."""
    q = _Sql(session, rng)
    sql = f"""
    WITH won AS (
      SELECT o.sf_id AS opportunity_id, {q.number('o', 'Amount')} AS amount,
             {q.text('o', 'CreatedDate')} AS created, {q.text('o', 'CampaignId')} AS primary_campaign,
             {q.text('o', 'ContactId')} AS contact_id
        FROM mirror_records o
       WHERE o.object_name = 'Opportunity' AND NOT o.is_deleted AND {q.true('o', 'IsWon')}
         AND substr({q.text('o', 'CloseDate')}, 1, 10) BETWEEN :first AND :last
    ),
    people AS (
      SELECT opportunity_id, contact_id AS person_id FROM won WHERE contact_id IS NOT NULL
      UNION
      SELECT {q.text('r', 'OpportunityId')}, {q.text('r', 'ContactId')}
        FROM mirror_records r
       WHERE r.object_name = 'OpportunityContactRole' AND NOT r.is_deleted
{_converted_people_sql(q)}
    ),
    members AS ({_membership_sql(q)}),
    raw_touches AS (
      SELECT w.opportunity_id, m.campaign_id, m.stamp
        FROM won w JOIN people p ON p.opportunity_id = w.opportunity_id
        JOIN members m ON m.person_id = p.person_id AND m.stamp <= w.created
      UNION ALL
      SELECT opportunity_id, primary_campaign, created FROM won WHERE primary_campaign IS NOT NULL
    ),
    touches AS (
      SELECT opportunity_id, campaign_id, MIN(stamp) AS stamp FROM raw_touches GROUP BY opportunity_id, campaign_id
    ),
    ranked AS (
      SELECT t.opportunity_id, t.campaign_id, w.amount,
             ROW_NUMBER() OVER (PARTITION BY t.opportunity_id ORDER BY t.stamp, t.campaign_id) AS first_rank,
             ROW_NUMBER() OVER (PARTITION BY t.opportunity_id ORDER BY t.stamp DESC, t.campaign_id DESC) AS last_rank,
             COUNT(*) OVER (PARTITION BY t.opportunity_id) AS touches
        FROM touches t JOIN won w ON w.opportunity_id = t.opportunity_id
    )
    SELECT r.campaign_id AS campaign_id, {q.text('c', 'Name')} AS name,
           COUNT(*) AS opportunities,
           SUM(CASE WHEN first_rank = 1 THEN amount ELSE 0 END) AS first_touch,
           SUM(CASE WHEN last_rank = 1 THEN amount ELSE 0 END) AS last_touch,
           SUM(amount * 1.0 / touches) AS even_split
      FROM ranked r LEFT JOIN mirror_records c ON c.sf_id = r.campaign_id
     GROUP BY r.campaign_id, {q.text('c', 'Name')}
    """
    result = session.execute(text(sql), {"first": rng.first.isoformat(), "last": rng.last.isoformat()}).mappings()
    rows = [{"campaign_id": r["campaign_id"], "name": r["name"] or r["campaign_id"],
             "opportunities": r["opportunities"], "first_touch": float(r["first_touch"] or 0),
             "last_touch": float(r["last_touch"] or 0), "even_split": round(float(r["even_split"] or 0), 2)}
            for r in result]
    return sorted(rows, key=lambda r: (-r["even_split"], r["name"]))


def default_from(today: date) -> date:
    """The first day of the month five months before `today`'s: the page's default range starts there."""
    month = today.month - 5
    year = today.year + (month - 1) // 12
    return date(year, (month - 1) % 12 + 1, 1)


def figures(session: Session, rng: DateRange) -> dict[str, Any]:
    """The page's funnel and campaign influence for `rng`, JSON-ready (what reports.refresh stores)."""
    import json

    data = {"funnel": funnel(session, rng), "influence": influence(session, rng)}
    return json.loads(json.dumps(data, default=float))  # SUM() of amounts is a Decimal on PostgreSQL
