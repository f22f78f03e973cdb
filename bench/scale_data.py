# ruff: noqa: E501  (long SQL lines read better unbroken)
"""Set-based data for the scale benchmark: a mirror of N people and their history, built in PostgreSQL.

Nothing goes through the app: every table is filled with `INSERT … SELECT … generate_series`, so
a million people take a couple of minutes and no client memory. The shapes follow what the dev
org's seed (devorg/seed.py) and sync (sync/mirror.py) produce:

- people: 60 % Contacts (with AccountId, OwnerId, Mailing address, Score__c, LeadSource…), 40 %
  Leads (Company 個人, Status, State…); 8 % have no Email; one Lead in eight (5 % of everyone)
  has the Email of a Contact (every other one in upper case), as a real org's Lead/Contact
  duplicates do; about 1 % of phones and 0.5 % of emails are unusable (for data quality);
- 60 Accounts, 6 Users, 5 Campaigns, CampaignMembers (2 % of people per campaign), Tasks (N/5);
- `activities` = 5 N (page views, mails sent/opened/clicked, form submits, bounces, unsubscribes,
  campaign status changes) over the last 90 days, opens and clicks naming a mail id; scoring and
  automations have taken them all in, one in 1,000 still waits in their queues;
- `change_events` = 5 N updated-field events, all processed but the last 1,000;
- `mail_outbox` = N sent automation mails, write-back items (2 % failed), automation runs.

Normalized keys (email_key, phone_key, name_key, kana_key, company_key) are filled the way
sync/keys.py would for these simple values (lower-cased email, E.164 phone, name without spaces).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

LAST_NAMES = ("佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤", "吉田", "山田")
LAST_KANA = ("サトウ", "スズキ", "タカハシ", "タナカ", "イトウ", "ワタナベ", "ヤマモト", "ナカムラ", "コバヤシ",
             "カトウ", "ヨシダ", "ヤマダ")
FIRST_NAMES = ("太郎", "花子", "健太", "美咲", "翔", "陽菜", "大輔", "さくら", "拓也", "結衣", "直樹")
FIRST_KANA = ("タロウ", "ハナコ", "ケンタ", "ミサキ", "ショウ", "ヒナ", "ダイスケ", "サクラ", "タクヤ", "ユイ", "ナオキ")
STATES = ("東京都", "神奈川県", "埼玉県", "千葉県", "大阪府", "愛知県", "福岡県", "北海道")
CAMPAIGNS = ("秋の新規加入キャンペーン", "産直りんご予約", "おせち早期予約", "夏のお試し宅配", "子育て応援パック案内")


# The consumers' cursors (activity.feed) set past every activity inserted so far.
TAKEN_IN = tuple(
    f"""INSERT INTO {table} (consumer, txid, last_id)
        SELECT '{consumer}', txid, id FROM activities ORDER BY txid DESC, id DESC LIMIT 1
        ON CONFLICT (consumer) DO UPDATE SET txid = excluded.txid, last_id = excluded.last_id"""
    for table, consumer in (("scoring_cursors", "activities"), ("automation_cursors", "form_submissions")))


def _array(values: tuple[str, ...]) -> str:
    return "ARRAY[" + ",".join("'" + v + "'" for v in values) + "]"


def person_id(n: str, contacts: int) -> str:
    """SQL for the sf_id of person number `n` (1-based SQL expression): Contacts first, then Leads."""
    return (f"(CASE WHEN {n} <= {contacts} THEN '003' ELSE '00Q' END || lpad(({n})::text, 12, '0') || 'AAA')")


def build(engine: Engine, people: int) -> dict[str, Any]:
    """Fill the (migrated, empty) database behind `engine` with `people` people and their history."""
    contacts = round(people * 0.6)
    pid = person_id("g", contacts)
    statements = [
        # Users and Accounts (few), then the people.
        """INSERT INTO mirror_records (sf_id, object_name, fields, system_modstamp, is_deleted, first_seen_at,
               last_seen_at, last_source, email_key, name_key)
           SELECT '005' || lpad(g::text, 12, '0') || 'AAA', 'User',
                  jsonb_build_object('Id', '005' || lpad(g::text, 12, '0') || 'AAA', 'Username',
                                     'rep' || g || '@coop.example.jp', 'LastName', '担当' || g, 'FirstName', '一郎',
                                     'Email', 'rep' || g || '@coop.example.jp', 'IsActive', true),
                  now(), false, now(), now(), 'poll', 'rep' || g || '@coop.example.jp', '担当' || g || '一郎'
           FROM generate_series(1, 6) g""",
        """INSERT INTO mirror_records (sf_id, object_name, fields, system_modstamp, is_deleted, first_seen_at,
               last_seen_at, last_source, name_key, company_key)
           SELECT '001' || lpad(g::text, 12, '0') || 'AAA', 'Account',
                  jsonb_build_object('Id', '001' || lpad(g::text, 12, '0') || 'AAA', 'Name', '第' || g || '班',
                                     'Type', 'Customer', 'Industry', (ARRAY['Retail','Food','Other'])[1 + g % 3],
                                     'OwnerId', '005' || lpad((1 + g % 6)::text, 12, '0') || 'AAA'),
                  now(), false, now(), now(), 'poll', '第' || g || '班', '第' || g || '班'
           FROM generate_series(1, 60) g""",
        f"""INSERT INTO mirror_records (sf_id, object_name, fields, system_modstamp, is_deleted, first_seen_at,
               last_seen_at, last_source, email_key, phone_key, name_key, kana_key, company_key)
           SELECT p.id, p.object_name, p.fields, p.stamp, false, p.stamp, now(), 'poll',
                  CASE WHEN position('@' in coalesce(p.fields->>'Email', '')) > 0
                       THEN lower(p.fields->>'Email') END,
                  CASE WHEN p.g % 100 <> 7 THEN '+8190' || lpad((p.g % 100000000)::text, 8, '0') END,
                  (p.fields->>'LastName') || (p.fields->>'FirstName'),
                  (p.fields->>'LastNameKana__c') || (p.fields->>'FirstNameKana__c'),
                  CASE WHEN p.object_name = 'Lead' THEN '個人' END
           FROM (
             SELECT g, {pid} AS id, CASE WHEN g <= {contacts} THEN 'Contact' ELSE 'Lead' END AS object_name,
                    now() - (g % 86400) * interval '1 minute' AS stamp,
                    jsonb_strip_nulls(jsonb_build_object(
                      'Id', {pid},
                      'LastName', ({_array(LAST_NAMES)})[1 + g % {len(LAST_NAMES)}],
                      'FirstName', ({_array(FIRST_NAMES)})[1 + (g / 7) % {len(FIRST_NAMES)}],
                      'LastNameKana__c', ({_array(LAST_KANA)})[1 + g % {len(LAST_KANA)}],
                      'FirstNameKana__c', ({_array(FIRST_KANA)})[1 + (g / 7) % {len(FIRST_KANA)}],
                      'Email', CASE WHEN g % 25 = 3 THEN NULL
                                    WHEN g % 200 = 11 THEN 'member' || g || '@'
                                    WHEN g > {contacts} AND g % 8 = 0 AND g % 16 = 0
                                      THEN upper('member' || (g % {contacts} + 1) || '@example.jp')
                                    WHEN g > {contacts} AND g % 8 = 0 THEN 'member' || (g % {contacts} + 1) || '@example.jp'
                                    ELSE 'member' || g || '@example.jp' END,
                      'Phone', CASE WHEN g % 100 = 7 THEN '12-34' ELSE '090-' || lpad((g % 10000)::text, 4, '0')
                                    || '-' || lpad(((g / 10000) % 10000)::text, 4, '0') END,
                      'MobilePhone', CASE WHEN g % 2 = 0 THEN '080-' || lpad((g % 10000)::text, 4, '0') || '-1234' END,
                      'OwnerId', '005' || lpad((1 + g % 6)::text, 12, '0') || 'AAA',
                      'LeadSource', (ARRAY['Web','Phone Inquiry','Other','Partner Referral'])[1 + g % 4],
                      'HasOptedOutOfEmail', g % 20 = 5,
                      'Score__c', g % 81,
                      'Tsunagi_Key__c', CASE WHEN g <= {contacts} THEN 'member-' ELSE 'lead-' END || lpad(g::text, 7, '0'),
                      'AccountId', CASE WHEN g <= {contacts} THEN '001' || lpad((1 + g % 60)::text, 12, '0') || 'AAA' END,
                      'Title', CASE WHEN g <= {contacts} THEN '組合員' END,
                      'MailingState', CASE WHEN g <= {contacts} THEN ({_array(STATES)})[1 + g % {len(STATES)}] END,
                      'MailingCity', CASE WHEN g <= {contacts} THEN '市' || (g % 50) END,
                      'MailingPostalCode', CASE WHEN g <= {contacts} THEN lpad((g % 9999999)::text, 7, '0') END,
                      'Birthdate', CASE WHEN g <= {contacts} THEN to_char(date '1940-01-01' + (g % 20000), 'YYYY-MM-DD') END,
                      'Company', CASE WHEN g > {contacts} THEN '個人' END,
                      'State', CASE WHEN g > {contacts} THEN ({_array(STATES)})[1 + g % {len(STATES)}] END,
                      'Status', CASE WHEN g > {contacts} THEN (ARRAY['Open - Not Contacted','Working - Contacted',
                                     'Closed - Not Converted'])[1 + g % 3] END,
                      'SystemModstamp', to_char(now() - (g % 86400) * interval '1 minute',
                                                'YYYY-MM-DD"T"HH24:MI:SS.000+0000'))) AS fields
             FROM generate_series(1, {people}) g) p""",
        f"""INSERT INTO mirror_records (sf_id, object_name, fields, system_modstamp, is_deleted, first_seen_at,
               last_seen_at, last_source)
           SELECT '701' || lpad(g::text, 12, '0') || 'AAA', 'Campaign',
                  jsonb_build_object('Id', '701' || lpad(g::text, 12, '0') || 'AAA',
                                     'Name', ({_array(CAMPAIGNS)})[g], 'Type', 'Direct Mail',
                                     'Status', 'In Progress', 'IsActive', true),
                  now(), false, now(), now(), 'poll'
           FROM generate_series(1, 5) g""",
        # 2 % of people per campaign (every 50th person, shifted per campaign).
        f"""INSERT INTO mirror_records (sf_id, object_name, fields, system_modstamp, is_deleted, first_seen_at,
               last_seen_at, last_source)
           SELECT '00v' || lpad((c * {people} + g)::text, 12, '0') || 'AAA', 'CampaignMember',
                  jsonb_strip_nulls(jsonb_build_object(
                    'Id', '00v' || lpad((c * {people} + g)::text, 12, '0') || 'AAA',
                    'CampaignId', '701' || lpad(c::text, 12, '0') || 'AAA',
                    'ContactId', CASE WHEN g <= {contacts} THEN {pid} END,
                    'LeadId', CASE WHEN g > {contacts} THEN {pid} END,
                    'Status', CASE WHEN g % 5 = 0 THEN 'Responded' ELSE 'Sent' END,
                    'HasResponded', g % 5 = 0)),
                  now(), false, now(), now(), 'poll'
           FROM generate_series(1, 5) c, generate_series(1, {people}) g WHERE g % 50 = c""",
        f"""INSERT INTO mirror_records (sf_id, object_name, fields, system_modstamp, is_deleted, first_seen_at,
               last_seen_at, last_source)
           SELECT '00T' || lpad(t::text, 12, '0') || 'AAA', 'Task',
                  jsonb_build_object('Id', '00T' || lpad(t::text, 12, '0') || 'AAA', 'Subject', '訪問', 'Type', 'Visit',
                                     'WhoId', {person_id(f"(t * 5 % {people} + 1)", contacts)},
                                     'Status', 'Completed',
                                     'Visit_Result__c', (ARRAY['在宅','不在','訪問不要'])[1 + t % 3],
                                     'ActivityDate', to_char(current_date - (t % 30), 'YYYY-MM-DD'),
                                     'OwnerId', '005' || lpad((1 + t % 6)::text, 12, '0') || 'AAA'),
                  now() - (t % 43200) * interval '1 minute', false, now(), now(), 'poll'
           FROM generate_series(1, greatest({people} / 5, 1)) t""",
        f"""INSERT INTO mail_outbox (send_key, to_address, to_domain, template_key, context, person_id, marketing,
               origin, origin_ref, message_id, subject, smtp_code, unconfirmed, created_at, sent_at, logged_at,
               status, due_at, attempts)
           SELECT 'bench/' || g, 'member' || g || '@example.jp', 'example.jp', 'campaign-news', '{{}}'::jsonb,
                  {pid}, true, 'automations',
                  k.ks[1 + g % array_length(k.ks, 1)] || '/0/' || {pid} || '/1',
                  '<bench.' || g || '@tsunagi>', 'お知らせ', 250, false,
                  now() - (g % 40) * interval '1 day', now() - (g % 40) * interval '1 day' + interval '1 minute',
                  now() - (g % 40) * interval '1 day' + interval '2 minutes',
                  CASE WHEN g % 100 = 1 THEN 'bounced' ELSE 'sent' END, now() - (g % 40) * interval '1 day', 1
           FROM generate_series(1, {people}) g,
                (SELECT coalesce(array_agg(key ORDER BY key), ARRAY['bench']) AS ks FROM automations) k""",
        # 5 N activities: kind by g % 20; opens and clicks name an outbox mail of the same person.
        f"""INSERT INTO activities (kind, person_id, visitor_id, occurred_at, details)
           SELECT k.kind, {person_id(f"(a.g % {people} + 1)", contacts)}, NULL,
                  now() - (a.g % 129600) * interval '1 minute',
                  CASE WHEN k.kind IN ('mail_open', 'mail_click', 'mail_sent')
                         THEN jsonb_build_object('mail_id', a.g % {people} + 1)
                       WHEN k.kind = 'page_view' THEN jsonb_build_object('url', 'https://coop.example.jp/p/' || a.g % 500)
                       WHEN k.kind = 'form_submit' THEN jsonb_build_object('form', 'trial-set')
                       WHEN k.kind = 'mail_bounce' THEN jsonb_build_object('hard', a.g % 2 = 0)
                       WHEN k.kind = 'campaign_status'
                         THEN jsonb_build_object('campaign_id', '701' || lpad((1 + a.g % 5)::text, 12, '0') || 'AAA')
                       ELSE '{{}}'::jsonb END
           FROM generate_series(1, {people * 5}) a(g)
           CROSS JOIN LATERAL (SELECT (ARRAY['page_view','page_view','page_view','page_view','page_view',
                  'page_view','page_view','page_view','mail_sent','mail_sent','mail_sent','mail_open','mail_open',
                  'mail_open','mail_click','form_submit','mail_delivered','mail_bounce','unsubscribe',
                  'campaign_status'])[1 + a.g % 20] AS kind) k""",
        # Scoring and automations have taken them all in; one in 1,000 still waits in their queues.
        *TAKEN_IN,
        "INSERT INTO scoring_queue (activity_id) SELECT id FROM activities WHERE id % 1000 = 0",
        "INSERT INTO automation_form_queue (activity_id) SELECT id FROM activities "
        "WHERE id % 1000 = 0 AND kind = 'form_submit'",
        f"""INSERT INTO change_events (object_name, record_id, kind, field, old_value, new_value, occurred_at,
               recorded_at, source, processed_at)
           SELECT CASE WHEN (e % {people} + 1) <= {contacts} THEN 'Contact' ELSE 'Lead' END,
                  {person_id(f"(e % {people} + 1)", contacts)}, 'updated',
                  (ARRAY['Phone','Email','Score__c','LeadSource','MailingCity'])[1 + e % 5],
                  to_jsonb('old' || e), to_jsonb('new' || e),
                  now() - (e % 129600) * interval '1 minute', now() - (e % 129600) * interval '1 minute',
                  'poll', CASE WHEN e <= {people * 5} - 1000 THEN now() END
           FROM generate_series(1, {people * 5}) e""",
        f"""INSERT INTO writeback_items (idempotency_key, object_name, operation, record_id, fields, origin,
               origin_ref, error_code, error_message, created_at, status, due_at, attempts)
           SELECT 'bench/' || w, 'Contact', 'update', {person_id(f"(w % {contacts} + 1)", contacts)},
                  jsonb_build_object('Score__c', w % 100), 'scoring', 'bench',
                  CASE WHEN w % 50 = 0 THEN 'FIELD_CUSTOM_VALIDATION_EXCEPTION' END,
                  CASE WHEN w % 50 = 0 THEN 'Score__c は 0〜100 で入力してください' END,
                  now() - (w % 1440) * interval '1 minute',
                  CASE WHEN w % 50 = 0 THEN 'failed' ELSE 'written' END, now(), 1
           FROM generate_series(1, greatest({people} / 10, 1)) w""",
    ]
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
        conn.execute(text("""
            INSERT INTO automation_runs (automation_id, enrollment_id, step_index, record_id, person_id, outcome,
                reason, details, occurred_at)
            SELECT a.id, NULL, 0, m.person_id, m.person_id, 'fired', 'bench', '{}'::jsonb, m.created_at
            FROM mail_outbox m JOIN automations a ON a.key = split_part(m.origin_ref, '/', 1)"""))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    return table_sizes(engine)


TABLES = ("mirror_records", "change_events", "activities", "mail_outbox", "writeback_items", "automation_runs")


def table_sizes(engine: Engine) -> dict[str, Any]:
    """Rows (estimated by the planner after ANALYZE) and total size in MB of the benchmark's tables."""
    out: dict[str, Any] = {}
    with engine.connect() as conn:
        for table in TABLES:
            rows, size = conn.execute(text(
                "SELECT reltuples::bigint, pg_total_relation_size(oid) FROM pg_class WHERE relname = :t"),
                {"t": table}).one()
            out[table] = {"rows": int(rows), "mb": round(size / 1e6, 1)}
    return out
