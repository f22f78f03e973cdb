"""Helpers for gateway unit tests: a fake org over `responses`, and gateways that do not sleep."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import responses

from salesforce.auth import ClientCredentialsFlow, Credentials, Token
from salesforce.gateway import SalesforceGateway

ORG = "https://org.example.my.salesforce.com"
LOGIN = "https://login.example.com"
API = f"{ORG}/services/data/v59.0"


@pytest.fixture
def fake_org() -> Iterator[responses.RequestsMock]:
    """A `responses` mock that fails the test on any request it was not told about."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def token_answer(mock: responses.RequestsMock, access_token: str = "fresh-token",  # noqa: S107
                 instance_url: str = ORG, login_url: str = LOGIN) -> Any:
    """Make the token endpoint hand out `access_token`; returns the registered response."""
    return mock.add(responses.POST, f"{login_url}/services/oauth2/token",
                    json={"access_token": access_token, "instance_url": instance_url, "token_type": "Bearer"})


def make_gateway(initial: str | None = "old-token", flow: bool = True, credentials_hint: str = "",
                 **options: Any) -> SalesforceGateway:
    """A gateway on the fake org that never sleeps between retries."""
    credentials = Credentials(
        initial=Token(ORG, initial) if initial else None,
        flow=ClientCredentialsFlow(LOGIN, "client-id", "client-secret") if flow else None,
        settings_hint=credentials_hint,
    )
    options.setdefault("max_retries", 3)
    return SalesforceGateway(credentials, backoff_seconds=0, sleep=lambda _s: None, **options)
