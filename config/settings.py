"""Every setting tsunagi reads, in one place: its environment variable, type, default and meaning.

Settings come from the process environment, optionally seeded from a `.env` file in the working
directory (values already in the environment win). A bad value stops start-up with a
`SettingsError` naming the variable. `docs/configuration.md` and the README table are generated
from `settings_spec()` by `make docs` (`python -m config docs`; `flask --app app config table`
prints the table).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import click

from config.person_model import PersonModel, parse_model


class StartupError(click.ClickException):
    """The process cannot start; the message is one line naming what to fix.

    Being a ClickException, every `flask --app app ...` command prints it as
    `tsunagi: <message>` on stderr and exits with status 2 instead of a traceback; gunicorn's
    master does the same through `gunicorn.conf.py` (see config.preflight).
    """

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))  # always one line

    def show(self, file: Any = None) -> None:
        """Print `tsunagi: <message>` to stderr."""
        click.echo(f"tsunagi: {self.format_message()}", err=True, file=file)


class SettingsError(StartupError, ValueError):
    """A setting has a value tsunagi cannot use; the message names the variable."""


def _text(raw: str) -> str:
    return raw.strip()


def _int(raw: str) -> int:
    return int(raw.strip())


def _positive_int(raw: str) -> int:
    value = int(raw.strip())
    if value <= 0:
        raise ValueError("must be a positive whole number")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw.strip())
    if value < 0:
        raise ValueError("must be 0 or a positive whole number")
    return value


def _float(raw: str) -> float:
    return float(raw.strip())


def _share(raw: str) -> float:
    value = float(raw.strip())
    if not 0 < value <= 1:
        raise ValueError("must be a number above 0 and at most 1")
    return value


def _page_size(raw: str) -> int:
    value = int(raw.strip())
    if not 200 <= value <= 2000:  # Salesforce's smallest and largest query batch
        raise ValueError("must be a whole number from 200 to 2000")
    return value


def _bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("must be true or false")


def _csv(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _url(schemes: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip()
        if not value:
            return ""
        parsed = urlparse(value)
        if parsed.scheme not in schemes or not (parsed.netloc or parsed.path):
            raise ValueError(f"must be a URL starting with {' or '.join(s + '://' for s in schemes)}")
        return value

    return parse


def _database_url(raw: str) -> str:
    value = raw.strip()
    if not value:
        return ""  # filled in by load_settings: a SQLite file in the instance folder
    scheme = urlparse(value).scheme
    if scheme.startswith("postgres"):
        # Operators paste Heroku-style postgres:// URLs; SQLAlchemy wants an explicit driver.
        rest = value.split("://", 1)[1]
        return "postgresql+psycopg://" + rest
    if scheme.startswith("sqlite"):
        return value
    raise ValueError("must be a sqlite:/// or postgresql:// URL")


def _choice(choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip()
        for choice in choices:
            if value.lower() == choice.lower():
                return choice
        raise ValueError(f"must be one of {', '.join(choices)}")

    return parse


def _existing_file(raw: str) -> str:
    value = raw.strip()
    if value and not Path(value).is_file():
        raise ValueError(f"file {value!r} does not exist")
    return value


def _sobject_names(raw: str) -> tuple[str, ...]:
    names = _csv(raw)
    for name in names:
        if not name.replace("_", "").isalnum():
            raise ValueError(f"{name!r} is not a Salesforce object name")
    return names


def _object_fields(raw: str) -> tuple[str, ...]:
    pairs = _csv(raw)
    for pair in pairs:
        object_name, _, field_name = pair.partition(".")
        if not (object_name.replace("_", "").isalnum() and field_name.replace("_", "").isalnum()):
            raise ValueError(f"{pair!r} is not Object.Field")
    return pairs


def _domain_rates(raw: str) -> Mapping[str, int]:
    """Parse `gmail.com=50,yahoo.co.jp=20` into {domain: mails per second}."""
    rates: dict[str, int] = {}
    for part in _csv(raw):
        domain, _, rate = part.partition("=")
        if not domain or not rate:
            raise ValueError("must look like domain=mails_per_second,domain=mails_per_second")
        rates[domain.strip().lower()] = _positive_int(rate)
    return rates


def _mail_topics(raw: str) -> Mapping[str, str]:
    """Parse `news=お知らせ,campaign=キャンペーン` into {topic key: label}, in order (the first is the default)."""
    topics: dict[str, str] = {}
    for part in _csv(raw):
        key, _, label = part.partition("=")
        key, label = key.strip(), label.strip()
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,31}", key) or not label:
            raise ValueError("must look like key=label,key=label (keys: a-z, 0-9, _ and -, at most 32)")
        topics[key] = label
    if not topics:
        raise ValueError("name at least one topic")
    return topics


def _return_path(raw: str) -> str:
    from mail.return_path import validate

    return validate(raw)


def _networks(raw: str) -> tuple[str, ...]:
    """Parse `13.108.0.0/14,2a02:…/32` into normalized CIDR networks (a bare address is a /32 or /128)."""
    import ipaddress

    networks = []
    for part in _csv(raw):
        try:
            networks.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError:
            raise ValueError(f"{part!r} is not an IP address or CIDR network") from None
    return tuple(networks)


def _field_name(raw: str) -> str:
    value = raw.strip()
    if value and not re.match(r"^[A-Za-z][A-Za-z0-9_]*$", value):
        raise ValueError("must be a Salesforce field name such as Member_No__c")
    return value


def _person_model(raw: str) -> PersonModel:
    return parse_model(raw)


def setting(env: str, parse: Callable[[str], Any], default: str, help: str) -> Any:
    """Declare one setting: the variable, its parser, the default (as text) and a one-line meaning."""
    return field(default=None, metadata={"env": env, "parse": parse, "default": default, "help": help})


@dataclass(frozen=True)
class Settings:
    """The whole configuration of one tsunagi process. Build it with `load_settings`."""

    # --- service -------------------------------------------------------------------------
    debug: bool = setting("TSUNAGI_DEBUG", _bool, "false",
                          "Development mode: a missing SECRET_KEY is generated and kept in the instance folder.")
    secret_key: str = setting("SECRET_KEY", _text, "",
                              "Signs sessions, CSRF tokens and public links. Required unless TSUNAGI_DEBUG is on.")
    database_url: str = setting("DATABASE_URL", _database_url, "",
                                "SQLAlchemy URL. Default: SQLite file instance/tsunagi.db. "
                                "Production: postgresql://user:pass@host/db.")
    public_base_url: str = setting("PUBLIC_BASE_URL", _url(("http", "https")), "http://localhost:5000",
                                   "Where people reach this service; used in mail links and unsubscribe URLs.")
    allow_sqlite: bool = setting("ALLOW_SQLITE", _bool, "false",
                                 "Let production (TSUNAGI_DEBUG off) run on SQLite: one machine, one writer. "
                                 "Off: `config check` refuses SQLite outside debug mode.")
    log_format: str = setting("LOG_FORMAT", _choice(("auto", "json", "text")), "auto",
                              "Log lines: json (one JSON object a line), text (readable), auto (text in debug "
                              "mode, json otherwise).")
    log_level: str = setting("LOG_LEVEL", _choice(("DEBUG", "INFO", "WARNING", "ERROR")), "INFO",
                             "Lowest level logged outside debug mode (debug mode logs DEBUG).")
    sentry_dsn: str = setting("SENTRY_DSN", _text, "",
                              "Report errors to Sentry (needs the sentry extra: pip install tsunagi[sentry]). "
                              "Empty: off.")
    metrics_token: str = setting("METRICS_TOKEN", _text, "",
                                 "Bearer token Prometheus sends to GET /metrics. Empty: /metrics is off (404).")
    metrics_port: int = setting("METRICS_PORT", _non_negative_int, "0",
                                "Worker and clock serve their own Prometheus metrics on this port (0: off; "
                                "not needed when they share PROMETHEUS_MULTIPROC_DIR with the web process).")
    shutdown_grace_seconds: float = setting("SHUTDOWN_GRACE_SECONDS", _float, "25",
                                            "After SIGTERM a worker finishes its current item for at most this "
                                            "long, releases what it claimed, then exits (keep below the "
                                            "platform's kill timeout: Heroku 30 s, Docker 10 s by default).")
    port: int = setting("PORT", _positive_int, "5000", "Port the web process listens on.")
    trusted_proxies: int = setting("TRUSTED_PROXIES", _non_negative_int, "0",
                                   "Reverse proxies in front of the web process whose X-Forwarded-For/-Proto "
                                   "are trusted (1 behind one TLS proxy).")
    default_locale: str = setting("DEFAULT_LOCALE", _text, "ja", "Language of the UI when the browser asks for none.")
    timezone: str = setting("TSUNAGI_TIMEZONE", _text, "Asia/Tokyo",
                            "Local time zone for send windows, reports and date triggers.")
    # --- Salesforce ------------------------------------------------------------------------
    salesforce_instance_url: str = setting("SALESFORCE_INSTANCE_URL", _url(("https", "http")), "",
                                           "The org's https://…my.salesforce.com URL. Empty: the local dev org.")
    salesforce_access_token: str = setting("SALESFORCE_ACCESS_TOKEN", _text, "",
                                           "A ready session id / OAuth access token (with SALESFORCE_INSTANCE_URL).")
    salesforce_client_id: str = setting("SALESFORCE_CLIENT_ID", _text, "",
                                        "Connected App consumer key (JWT bearer, client credentials, password).")
    salesforce_client_secret: str = setting("SALESFORCE_CLIENT_SECRET", _text, "",
                                            "Connected App consumer secret (client credentials, password flow).")
    salesforce_username: str = setting("SALESFORCE_USERNAME", _text, "",
                                       "Integration user (JWT bearer subject, or password flow).")
    salesforce_password: str = setting("SALESFORCE_PASSWORD", _text, "",
                                       "Password plus security token for the username-password flow.")
    salesforce_private_key_file: str = setting("SALESFORCE_PRIVATE_KEY_FILE", _existing_file, "",
                                               "PEM private key for the OAuth 2.0 JWT bearer flow.")
    salesforce_login_url: str = setting("SALESFORCE_LOGIN_URL", _url(("https", "http")),
                                        "https://login.salesforce.com",
                                        "OAuth token host (test.salesforce.com for sandboxes, or My Domain).")
    salesforce_ca_bundle: str = setting("SALESFORCE_CA_BUNDLE", _existing_file, "",
                                        "CA file to verify Salesforce's TLS certificate; wins over REQUESTS_CA_BUNDLE.")
    salesforce_api_version: str = setting("SALESFORCE_API_VERSION", _text, "59.0", "REST API version used.")
    salesforce_org_id: str = setting("SALESFORCE_ORG_ID", _text, "",
                                     "18-character org id; Outbound Messages from any other org are refused.")
    salesforce_timeout_seconds: float = setting("SALESFORCE_TIMEOUT_SECONDS", _float, "30",
                                                "Timeout of one Salesforce HTTP request.")
    salesforce_max_retries: int = setting("SALESFORCE_MAX_RETRIES", _int, "4",
                                          "Retries of a call after a 5xx or a connection error (with back-off).")
    salesforce_limit_pause_seconds: int = setting("SALESFORCE_LIMIT_PAUSE_SECONDS", _positive_int, "600",
                                                  "After REQUEST_LIMIT_EXCEEDED, no Salesforce calls for this long.")
    writeback_batch_size: int = setting("WRITEBACK_BATCH_SIZE", _positive_int, "200",
                                        "Write-back items a worker claims and sends at once (200 per API call).")
    writeback_external_id_fields: tuple[str, ...] = setting(
        "WRITEBACK_EXTERNAL_ID_FIELDS", _object_fields, "Lead.Tsunagi_Key__c,Contact.Tsunagi_Key__c",
        "Object.Field unique external ids: creates of these objects are sent as upserts on the item's key.")
    writeback_marker_fields: tuple[str, ...] = setting(
        "WRITEBACK_MARKER_FIELDS", _object_fields, "",
        "Object.Field text fields (e.g. Task.Tsunagi_Key__c) that carry the key of creates without an external id.")
    devorg_dir: str = setting("DEVORG_DIR", _text, "",
                              "Folder of the local dev org (data, certificates, connection.json). "
                              "Default: instance/devorg.")
    devorg_definition: str = setting("DEVORG_DEFINITION", _existing_file, "",
                                     "Org definition YAML the dev org serves (objects, custom fields, Person "
                                     "Accounts; see docs/devorg.md). Default: the demo co-op's devorg/org.yaml.")
    # --- sync ------------------------------------------------------------------------------
    sync_objects: tuple[str, ...] = setting(
        "SYNC_OBJECTS", _sobject_names,
        "Lead,Contact,Account,Task,Event,Campaign,CampaignMember,User,Opportunity,OpportunityContactRole",
        "Salesforce objects mirrored into the local database.")
    sync_interval_seconds: int = setting("SYNC_INTERVAL_SECONDS", _positive_int, "60",
                                         "Seconds between poll cycles.")
    sync_overlap_seconds: int = setting("SYNC_OVERLAP_SECONDS", _int, "300",
                                        "Fallback safe point when the org's latestDateCovered cannot be read: the "
                                        "org's time minus this.")
    sync_quota_share: float = setting("SYNC_QUOTA_SHARE", _share, "0.5",
                                      "Share of the org's daily API limit after which sync stops for the day.")
    sync_page_size: int = setting("SYNC_PAGE_SIZE", _page_size, "2000",
                                  "Records per sync query page (200–2000; 2000 uses the fewest API calls).")
    sync_since_days: int = setting(
        "SYNC_SINCE", _non_negative_int, "365",
        "Days back (by SystemModstamp, the org's clock) the first load of Task and Event reads; 0 loads every "
        "activity ever. Later changes to older activities are still mirrored.")
    sync_bulk_threshold: int = setting("SYNC_BULK_THRESHOLD", _non_negative_int, "10000",
                                       "A first load of more records than this uses one Bulk API 2.0 job (0: never).")
    # --- webhooks (Salesforce Outbound Messages) ---------------------------------------------
    outbound_allowed_networks: tuple[str, ...] = setting(
        "OUTBOUND_ALLOWED_NETWORKS", _networks, "",
        "CIDR networks Outbound Messages may come from (Salesforce's published ranges); empty: any address.")
    outbound_rate_limit_per_ip: int = setting("OUTBOUND_RATE_LIMIT_PER_IP", _positive_int, "500",
                                              "Outbound Message notifications stored per source IP per window.")
    outbound_rate_limit_global: int = setting("OUTBOUND_RATE_LIMIT_GLOBAL", _positive_int, "1000",
                                              "Outbound Message notifications stored from all sources per window.")
    outbound_rate_window_seconds: int = setting("OUTBOUND_RATE_WINDOW_SECONDS", _positive_int, "3600",
                                                "Length of the Outbound Message rate-limit window.")
    outbound_max_attempts: int = setting("OUTBOUND_MAX_ATTEMPTS", _positive_int, "8",
                                         "Tries to fetch a notified record from Salesforce before the "
                                         "notification is marked failed (listed at /admin/webhooks).")
    # --- mail ------------------------------------------------------------------------------
    smtp_url: str = setting("SMTP_URL", _url(("smtp", "smtps")), "",
                            "smtp://user:pass@host:587 (STARTTLS) or smtps://…:465. Empty: the built-in dev inbox.")
    mail_from: str = setting("MAIL_FROM", _text, "tsunagi <no-reply@localhost>", "From address of every mail.")
    mail_sender_name: str = setting("MAIL_SENDER_NAME", _text, "",
                                    "Sender's name shown in every marketing mail (特定電子メール法).")
    mail_sender_address: str = setting("MAIL_SENDER_ADDRESS", _text, "",
                                       "Sender's postal address shown in every marketing mail.")
    mail_contact: str = setting("MAIL_CONTACT", _text, "",
                                "Contact for enquiries shown in every marketing mail (mail address or phone).")
    mail_topics: Mapping[str, str] = setting(
        "MAIL_TOPICS", _mail_topics, "news=お知らせ,campaign=キャンペーン,materials_followup=資料請求フォロー",
        "Topics of marketing mail people can opt out of one by one in the preference centre (key=label, "
        "comma-separated). Automations and broadcasts name theirs with `topic:`; the first is the default.")
    privacy_policy_url: str = setting("PRIVACY_POLICY_URL", _url(("http", "https")), "",
                                      "The co-op's privacy policy, linked from the consent box of public forms that "
                                      "collect personal data (e.g. https://coop.example.jp/privacy).")
    mail_batch_size: int = setting("MAIL_BATCH_SIZE", _positive_int, "200", "Mails a worker claims at once.")
    mail_frequency_cap_per_day: int = setting(
        "MAIL_FREQUENCY_CAP_PER_DAY", _non_negative_int, "0",
        "Marketing mails one address may get in 24 hours across automations and broadcasts "
        "(0: no cap; transactional mail is exempt).")
    mail_smtp_connections: int = setting("MAIL_SMTP_CONNECTIONS", _positive_int, "4",
                                         "SMTP connections each worker keeps open.")
    mail_domain_rates: Mapping[str, int] = setting("MAIL_DOMAIN_RATES", _domain_rates, "",
                                                   "Per-domain send limits, e.g. gmail.com=50,yahoo.co.jp=20 (per s).")
    dev_inbox_port: int = setting("DEV_INBOX_PORT", _positive_int, "8025",
                                  "Port of the built-in SMTP dev inbox when SMTP_URL is empty.")
    mail_tracking: bool = setting("MAIL_TRACKING", _bool, "true",
                                  "Add an open pixel and click-tracking redirects to HTML mail.")
    mail_max_attempts: int = setting("MAIL_MAX_ATTEMPTS", _positive_int, "8",
                                     "Attempts after temporary SMTP failures before a mail is marked failed.")
    mail_retry_base_seconds: float = setting("MAIL_RETRY_BASE_SECONDS", _float, "60",
                                             "First retry delay after a temporary failure; doubles each attempt.")
    mail_bounce_token: str = setting("MAIL_BOUNCE_TOKEN", _text, "",
                                     "Bearer token for POST /mail/bounces (DSN intake). Empty: endpoint disabled.")
    mail_return_path: str = setting("MAIL_RETURN_PATH", _return_path, "",
                                    "Bounce address used as SMTP envelope sender, e.g. bounces@example.jp "
                                    "(+signed mail tag added) or b-{token}@bounce.example.jp. Empty: MAIL_FROM.")
    dkim_selector: str = setting("DKIM_SELECTOR", _text, "",
                                 "DKIM selector (public key at SELECTOR._domainkey.DKIM_DOMAIN); with the two below "
                                 "tsunagi signs every mail. Empty: the relay signs.")
    dkim_domain: str = setting("DKIM_DOMAIN", _text, "", "DKIM signing domain (d=), normally MAIL_FROM's domain.")
    dkim_private_key_file: str = setting("DKIM_PRIVATE_KEY_FILE", _existing_file, "",
                                         "PEM file of the RSA private key for DKIM signing (unencrypted).")
    mail_sendgrid_public_key: str = setting("MAIL_SENDGRID_PUBLIC_KEY", _text, "",
                                            "SendGrid Signed Event Webhook verification key (base64). Empty: "
                                            "POST /mail/bounces/sendgrid needs ?token=MAIL_BOUNCE_TOKEN.")
    mail_soft_bounce_limit: int = setting("MAIL_SOFT_BOUNCE_LIMIT", _positive_int, "5",
                                          "Soft bounces after which an address is suppressed.")
    # --- forms -----------------------------------------------------------------------------
    forms_public_rate_limit: int = setting("FORMS_PUBLIC_RATE_LIMIT", _positive_int, "10",
                                           "Public-form submissions accepted per client IP per window.")
    forms_public_rate_window_seconds: int = setting("FORMS_PUBLIC_RATE_WINDOW_SECONDS", _positive_int, "600",
                                                    "Length of the public-form rate-limit window.")
    forms_link_max_age_days: int = setting("FORMS_LINK_MAX_AGE_DAYS", _positive_int, "30",
                                           "Longest validity of a signed prefill link in a mail (days).")
    forms_visit_form_key: str = setting("FORMS_VISIT_FORM_KEY", _text, "visit_result",
                                        "Form definition the field-sales visit screen uses.")
    forms_member_number_field: str = setting(
        "FORMS_MEMBER_NUMBER_FIELD", _field_name, "Tsunagi_Key__c",
        "Contact field holding the member number operators search by (mirror key `member_key`; after "
        "changing it, a record gets the new key when it next changes in Salesforce).")
    person_model: PersonModel = setting(  # noqa: RUF009  (a frozen dataclass, parsed like any setting)
        "PERSON_MODEL", _person_model, "",
        "Which objects are people and their fields: JSON or a .json/.yaml file, e.g. "
        '`{"Lead": {}, "Account": {"kana": ["Kana_Last__c", "Kana_First__c"]}}` for Leads and Person Accounts '
        "(keys email, phone, name, kana, company, opted_out, member_number, converted, conversion, person_flag, "
        "person_contact; see docs/configuration.md). Default: Leads and Contacts of the demo org, the member "
        "number in FORMS_MEMBER_NUMBER_FIELD. Checked against describe when sync starts.")
    forms_visit_undo_seconds: int = setting("FORMS_VISIT_UNDO_SECONDS", _non_negative_int, "10",
                                            "Seconds a field rep can undo a visit result (its Task is written after).")
    # --- scoring, tracking and reports -----------------------------------------------------
    tracking_honour_dnt: bool = setting("TRACKING_HONOUR_DNT", _bool, "true",
                                        "Drop page views from browsers sending Do Not Track / Global Privacy Control.")
    tracking_cookie_days: int = setting("TRACKING_COOKIE_DAYS", _positive_int, "395",
                                        "Lifetime of the first-party visitor id cookie set by /t/t.js.")
    tracking_link_domains: tuple[str, ...] = setting(
        "TRACKING_LINK_DOMAINS", _csv, "",
        "Sites with the tracking snippet (e.g. coop.example.jp): mail clicks to them carry a signed "
        "person token (tsn) so the visitor is linked to the person. Other sites never get it.")
    scoring_batch_size: int = setting("SCORING_BATCH_SIZE", _positive_int, "500",
                                      "Activity rows a worker scores in one transaction.")
    scoring_page_views_per_window: int = setting(
        "SCORING_PAGE_VIEWS_PER_WINDOW", _positive_int, "10",
        "Page views of one visitor that earn points per window (more are recorded, not scored).")
    scoring_page_view_window_seconds: int = setting(
        "SCORING_PAGE_VIEW_WINDOW_SECONDS", _positive_int, "3600",
        "Length of the window SCORING_PAGE_VIEWS_PER_WINDOW counts in (fixed windows from the epoch).")
    scoring_writeback_window_seconds: int = setting("SCORING_WRITEBACK_WINDOW_SECONDS", _int, "300",
                                                    "Batch window: a score goes to Salesforce once per window.")
    scoring_score_field: str = setting("SCORING_SCORE_FIELD", _text, "Score__c",
                                       "Lead/Contact field that receives the score.")
    data_quality_required_fields: tuple[str, ...] = setting(
        "DATA_QUALITY_REQUIRED_FIELDS", _csv, "Lead.LastName,Lead.Company,Lead.Email,Contact.LastName,Contact.Email",
        "Object.Field pairs the data-quality report lists as missing when empty.")
    reports_refresh_seconds: int = setting(
        "REPORTS_REFRESH_SECONDS", _positive_int, "600",
        "How often the reports.refresh job precomputes data quality and the 30-day automation figures; "
        "pages show a snapshot younger than twice this and compute live otherwise.")
    # --- workers ---------------------------------------------------------------------------
    worker_idle_sleep_seconds: float = setting("WORKER_IDLE_SLEEP_SECONDS", _float, "0.5",
                                               "How long an idle worker waits before looking for work again.")
    worker_lease_seconds: int = setting("WORKER_LEASE_SECONDS", _positive_int, "120",
                                        "How long claimed work stays reserved before another worker may take it.")
    worker_job_timeout_seconds: int = setting(
        "WORKER_JOB_TIMEOUT_SECONDS", _positive_int, "600",
        "A job running longer is asked to stop at its next chunk and is queued again to carry on "
        "(its lease is renewed while it runs, so it never runs twice).")
    # --- retention (work.retention, daily; 0 keeps rows forever) ---------------------------
    retention_change_events_days: int = setting("RETENTION_CHANGE_EVENTS_DAYS", _non_negative_int, "30",
                                                "Days evaluated change events are kept.")
    retention_activities_days: int = setting("RETENTION_ACTIVITIES_DAYS", _non_negative_int, "400",
                                             "Days activities (page views, opens, clicks, submissions) are kept.")
    retention_outbox_days: int = setting("RETENTION_OUTBOX_DAYS", _non_negative_int, "180",
                                         "Days finished outbox mails are kept (at least 31).")
    retention_steps_days: int = setting("RETENTION_STEPS_DAYS", _non_negative_int, "90",
                                        "Days finished automation steps (and broadcast address lists) are kept.")
    retention_enrollments_days: int = setting(
        "RETENTION_ENROLLMENTS_DAYS", _non_negative_int, "365",
        "Days ended enrollments are kept (re-entry rules look no further back than this).")
    retention_history_days: int = setting("RETENTION_HISTORY_DAYS", _non_negative_int, "180",
                                          "Days automation history rows are kept.")
    retention_writeback_days: int = setting("RETENTION_WRITEBACK_DAYS", _non_negative_int, "90",
                                            "Days written or discarded write-back items are kept.")
    retention_notifications_days: int = setting("RETENTION_NOTIFICATIONS_DAYS", _non_negative_int, "30",
                                                "Days applied Outbound Message notifications (raw XML) are kept.")
    # --- automations -----------------------------------------------------------------------
    automations_event_batch: int = setting("AUTOMATIONS_EVENT_BATCH", _positive_int, "1000",
                                           "Change events an automations worker evaluates per transaction.")
    automations_step_batch: int = setting("AUTOMATIONS_STEP_BATCH", _positive_int, "100",
                                          "Planned automation steps a worker claims and runs per transaction.")
    automations_max_attempts: int = setting("AUTOMATIONS_MAX_ATTEMPTS", _positive_int, "5",
                                            "Tries of a failing automation step before it is marked failed.")
    automations_broadcast_chunk: int = setting(
        "AUTOMATIONS_BROADCAST_CHUNK", _positive_int, "10000",
        "People a broadcast enters per committed transaction (a crash resumes at the last chunk).")
    automations_broadcast_slice_seconds: float = setting(
        "AUTOMATIONS_BROADCAST_SLICE_SECONDS", _float, "5",
        "How long a worker plans one broadcast before it serves mail and other queues again.")
    broadcast_approval_threshold: int = setting(
        "BROADCAST_APPROVAL_THRESHOLD", _non_negative_int, "1000",
        "A broadcast that would mail more people than this is launched only after a second admin "
        "approves it (not the one who prepared it); an edit voids the approval. 0: every broadcast.")

    @property
    def uses_sqlite(self) -> bool:
        """True when the database is SQLite (one writer; no SKIP LOCKED)."""
        return self.database_url.startswith("sqlite")

    @property
    def salesforce_configured(self) -> bool:
        """True when any Salesforce connection setting is given (otherwise the local dev org is used)."""
        return bool(self.salesforce_instance_url or self.salesforce_client_id or self.salesforce_username)


def settings_spec() -> list[dict[str, str]]:
    """The settings table: variable, default and meaning for each setting (for docs and the CLI)."""
    return [
        {"env": f.metadata["env"], "default": f.metadata["default"], "help": f.metadata["help"]}
        for f in fields(Settings)
    ]


def _read_dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def _instance_secret(instance_path: Path) -> str:
    """A development secret kept in the instance folder so sessions survive restarts."""
    import secrets

    from config.files import private_dir, write_private

    path = instance_path / "secret_key"
    if path.is_file():
        return path.read_text().strip()
    private_dir(instance_path)
    value = secrets.token_urlsafe(48)
    write_private(path, value)
    return value


def _shown(env: str, raw: str) -> str:
    """A value as it may appear in an error message: secrets and URL passwords masked."""
    if any(word in env for word in ("SECRET", "PASSWORD", "TOKEN")):
        return "***"
    try:
        password = urlparse(raw.strip()).password
    except ValueError:  # not a URL at all
        password = None
    return raw.strip().replace(f":{password}@", ":***@", 1) if password else raw


def load_settings(
    environ: Mapping[str, str] | None = None,
    instance_path: str | os.PathLike[str] = "instance",
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Read, parse and check every setting; raise SettingsError naming the first bad variable.

    `overrides` maps field names (e.g. `database_url`) to already-typed values, for tests.
    """
    instance = Path(instance_path)
    # An explicit `environ` (tests, tools) is the whole truth; only the real process reads .env.
    source = {**_read_dotenv(Path.cwd() / ".env"), **os.environ} if environ is None else dict(environ)
    values: dict[str, Any] = {}
    for f in fields(Settings):
        env = f.metadata["env"]
        raw = source.get(env, f.metadata["default"])
        try:
            values[f.name] = f.metadata["parse"](raw)
        except ValueError as exc:
            raise SettingsError(f"{env}={_shown(env, raw)!r} is not valid: {exc}") from None
    # The member number of the default model's Contacts is FORMS_MEMBER_NUMBER_FIELD's.
    values["person_model"] = parse_model(source.get("PERSON_MODEL", ""),
                                         (overrides or {}).get("forms_member_number_field",
                                                               values["forms_member_number_field"]))
    values.update(overrides or {})
    _check_dkim(values)
    if not values["database_url"]:
        from config.files import private_dir, touch_private

        private_dir(instance)
        touch_private(instance / "tsunagi.db")  # before SQLite creates it world-readable (config.files)
        values["database_url"] = f"sqlite:///{(instance / 'tsunagi.db').resolve()}"
    if not values["secret_key"]:
        if not values["debug"]:
            raise SettingsError("SECRET_KEY is not set: set it to a long random value (or TSUNAGI_DEBUG=1 locally)")
        values["secret_key"] = _instance_secret(instance)
    if not values["devorg_dir"]:
        values["devorg_dir"] = str((instance / "devorg").resolve())
    return Settings(**values)


def _check_dkim(values: Mapping[str, Any]) -> None:
    from mail.dkim_signing import check_settings

    try:
        check_settings(values["dkim_selector"], values["dkim_domain"], values["dkim_private_key_file"])
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


def devorg_connection(settings: Settings) -> dict[str, str] | None:
    """The connection file the local dev org writes on start, or None when it is not there."""
    path = Path(settings.devorg_dir) / "connection.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text())
