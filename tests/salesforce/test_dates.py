"""A Salesforce date field gets the local date of the moment in TSUNAGI_TIMEZONE, not the UTC date."""

from __future__ import annotations

from datetime import UTC, date, datetime

from salesforce.dates import local_date

# 00:30 on 6 December in Tokyo is still 5 December in UTC and in New York.
LATE_EVENING_UTC = datetime(2026, 12, 5, 15, 30, tzinfo=UTC)


def test_the_date_is_the_local_date_of_the_configured_time_zone(make_app):
    with make_app().app_context():
        assert local_date(LATE_EVENING_UTC) == date(2026, 12, 6)
    with make_app(timezone="America/New_York").app_context():
        assert local_date(LATE_EVENING_UTC) == date(2026, 12, 5)


def test_an_explicit_time_zone_needs_no_app():
    assert local_date(LATE_EVENING_UTC, "Asia/Tokyo") == date(2026, 12, 6)
    assert local_date(LATE_EVENING_UTC, "UTC") == date(2026, 12, 5)
