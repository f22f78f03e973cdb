"""Clients of a dev org for tests and tools: a requests session that really uses the org's CA, and
a simple-salesforce client on it.

The machine may export REQUESTS_CA_BUNDLE, which `requests` lets override `Session.verify` on every
call made without an explicit `verify=` (simple-salesforce makes all its calls that way); passing
`verify` on each request makes the org's CA win.
"""

from __future__ import annotations

from typing import Any

import requests


class VerifiedSession(requests.Session):
    """A session whose every request verifies TLS against `ca_bundle`."""

    def __init__(self, ca_bundle: str) -> None:
        super().__init__()
        self.ca_bundle = ca_bundle
        self.verify = ca_bundle

    def request(self, method: str, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        """Send with `verify=ca_bundle` unless the caller passed its own."""
        kwargs.setdefault("verify", self.ca_bundle)
        return super().request(method, url, *args, **kwargs)


def salesforce_client(instance_url: str, access_token: str, ca_bundle: str, version: str = "59.0") -> Any:
    """A `simple_salesforce.Salesforce` talking to the org at `instance_url` with `access_token`."""
    from simple_salesforce import Salesforce

    return Salesforce(instance_url=instance_url, session_id=access_token, session=VerifiedSession(ca_bundle),
                      version=version)
