"""The HTTP session every Salesforce request goes through.

requests lets `REQUESTS_CA_BUNDLE` (which many machines export) replace `Session.verify` for any
request made without an explicit `verify=`. So setting `session.verify` alone would silently ignore
`SALESFORCE_CA_BUNDLE`; this session passes the configured bundle explicitly on every request.
"""

from __future__ import annotations

from typing import Any

import requests


class SalesforceSession(requests.Session):
    """A requests.Session that verifies TLS against `ca_bundle` (when given) on every request."""

    def __init__(self, ca_bundle: str = "") -> None:
        super().__init__()
        self.ca_bundle = ca_bundle
        if ca_bundle:
            self.verify = ca_bundle

    def request(self, method: str, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        """Send a request; the configured CA bundle wins over the environment's."""
        # `verify=None`/`True` would be replaced by REQUESTS_CA_BUNDLE inside requests; an explicit
        # path is not. An explicit `verify=False` from a caller is left alone (tests only).
        if self.ca_bundle and kwargs.get("verify") in (None, True):
            kwargs["verify"] = self.ca_bundle
        return super().request(method, url, *args, **kwargs)
