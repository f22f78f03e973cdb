"""Sentry is optional: off without SENTRY_DSN, a warning (not a crash) when the DSN is set without sentry-sdk."""

from __future__ import annotations

import logging
import sys
from types import SimpleNamespace

import pytest

from ops.sentry import init_sentry

pytestmark = pytest.mark.db_independent


def test_no_dsn_means_no_sentry_and_no_import(monkeypatch):
    monkeypatch.setitem(sys.modules, "sentry_sdk", None)  # importing it would raise
    assert init_sentry(SimpleNamespace(sentry_dsn="", debug=False), "web") is False


def test_a_dsn_without_sentry_sdk_installed_logs_a_warning_and_carries_on(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "sentry_sdk", None)
    with caplog.at_level(logging.WARNING, logger="ops.sentry"):
        assert init_sentry(SimpleNamespace(sentry_dsn="https://key@sentry.example/1", debug=False), "worker") is False
    assert "sentry-sdk is not installed" in caplog.text


def test_a_dsn_with_sentry_sdk_starts_the_client_once(monkeypatch):
    calls = []

    class FakeClient:
        def is_active(self):
            return bool(calls)

    fake = SimpleNamespace(init=lambda **kw: calls.append(kw), get_client=FakeClient,
                           set_tag=lambda key, value: calls.append((key, value)))
    monkeypatch.setitem(sys.modules, "sentry_sdk", fake)
    settings = SimpleNamespace(sentry_dsn="https://key@sentry.example/1", debug=False)
    assert init_sentry(settings, "clock") is True
    assert init_sentry(settings, "clock") is True
    assert calls[0]["dsn"] == "https://key@sentry.example/1" and calls[0]["send_default_pii"] is False
    assert calls[1] == ("process", "clock") and len(calls) == 2
