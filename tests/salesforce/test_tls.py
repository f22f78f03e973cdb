"""TLS: SALESFORCE_CA_BUNDLE wins over REQUESTS_CA_BUNDLE (a real HTTPS server on loopback)."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import certifi
import pytest
import trustme

from salesforce.auth import Credentials, Token
from salesforce.errors import TransientError
from salesforce.gateway import SalesforceGateway
from tests.fixtures.http_server import QuietHandler

pytestmark = pytest.mark.db_independent


class _LimitsHandler(QuietHandler):
    def do_GET(self) -> None:
        body = json.dumps({"DailyApiRequests": {"Max": 100000, "Remaining": 99999}}).encode()
        self.reply(200, body, {"Content-Type": "application/json", "Sforce-Limit-Info": "api-usage=1/100000"})


@pytest.fixture
def private_ca_org(tmp_path) -> Iterator[tuple[str, str]]:
    """(url, ca_file): an HTTPS server whose certificate only a private CA vouches for."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _LimitsHandler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", str(ca_file)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _gateway(url: str, ca_bundle: str) -> SalesforceGateway:
    return SalesforceGateway(Credentials(initial=Token(url, "t"), flow=None, ca_bundle=ca_bundle), max_retries=0,
                             timeout=5)


def test_the_configured_ca_bundle_is_used_even_with_requests_ca_bundle_set(private_ca_org, monkeypatch):
    url, ca_file = private_ca_org
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())

    assert _gateway(url, ca_file).limits()["DailyApiRequests"]["Remaining"] == 99999


def test_without_the_private_ca_the_certificate_is_refused(private_ca_org, monkeypatch):
    url, _ca_file = private_ca_org
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())

    with pytest.raises(TransientError, match="SSL"):
        _gateway(url, "").limits()
