"""Content-Security-Policy on every page and HSTS over HTTPS (issue 13, item 7)."""

from __future__ import annotations

import pytest

from web.headers import POLICY


@pytest.mark.parametrize("path", ["/login", "/no-such-page", "/f/no-such-form", "/t/t.js"])
def test_every_answer_carries_a_policy_that_refuses_inline_and_foreign_scripts(client, path):
    policy = client.get(path).headers["Content-Security-Policy"]
    assert policy == POLICY
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == "'self'" and "unsafe-inline" not in policy
    assert directives["object-src"] == "'none'" and directives["base-uri"] == "'self'"


def test_the_baseline_frame_headers_are_kept(client):
    headers = client.get("/login").headers
    assert headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in headers["Content-Security-Policy"]


def test_hsts_only_over_https(make_app):
    plain = make_app().test_client()
    assert "Strict-Transport-Security" not in plain.get("/login").headers
    assert "Strict-Transport-Security" in plain.get("/login", base_url="https://localhost").headers


def test_a_forwarded_https_counts_only_from_a_trusted_proxy(make_app):
    https = {"X-Forwarded-Proto": "https"}
    untrusted = make_app().test_client()
    assert "Strict-Transport-Security" not in untrusted.get("/login", headers=https).headers
    behind_proxy = make_app(trusted_proxies=1).test_client()
    assert behind_proxy.get("/login", headers=https).headers["Strict-Transport-Security"] == "max-age=31536000"
