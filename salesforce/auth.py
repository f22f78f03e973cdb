"""How the gateway obtains a Salesforce session: four OAuth 2.0 ways, chosen from the settings.

| flow               | settings                                                                 |
|--------------------|--------------------------------------------------------------------------|
| JWT bearer         | SALESFORCE_PRIVATE_KEY_FILE + SALESFORCE_CLIENT_ID + SALESFORCE_USERNAME |
| username-password  | SALESFORCE_CLIENT_ID + _CLIENT_SECRET + _USERNAME + _PASSWORD            |
| client credentials | SALESFORCE_CLIENT_ID + SALESFORCE_CLIENT_SECRET                          |
| given access token | SALESFORCE_INSTANCE_URL + SALESFORCE_ACCESS_TOKEN                        |

A given access token is used first when present; when it expires, the gateway re-authenticates
with whichever flow the other settings allow (none: the expiry surfaces as AuthError).
Token requests go to `{SALESFORCE_LOGIN_URL}/services/oauth2/token` through the same
CA-verifying session as every other call.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

import jwt
import requests

from salesforce.errors import AuthError, TransientError

TOKEN_PATH = "/services/oauth2/token"  # noqa: S105 (a URL path, not a secret)
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# Salesforce accepts JWT assertions valid for at most 3 minutes.
JWT_LIFETIME_SECONDS = 180


@dataclass(frozen=True)
class Token:
    """A usable session: where the org lives and the bearer token to send."""

    instance_url: str
    access_token: str


class Flow(Protocol):
    """A way to get a fresh Token."""

    @property
    def name(self) -> str:
        """What the flow is called in hints and logs (the frozen dataclasses' `name` field)."""
        ...

    def fetch(self, session: requests.Session, timeout: float) -> Token:
        """Ask Salesforce for a new token."""
        ...


def _token_request(session: requests.Session, login_url: str, data: dict[str, str], timeout: float) -> Token:
    """POST the grant to the token endpoint and turn the answer into a Token or a typed error."""
    url = login_url.rstrip("/") + TOKEN_PATH
    try:
        response = session.post(url, data=data, timeout=timeout, headers={"Accept": "application/json"})
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise TransientError(f"token request to {url} failed: {exc}") from exc
    if response.status_code >= 500:
        raise TransientError(f"token endpoint answered {response.status_code}", status=response.status_code)
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or "access_token" not in body:
        reason = body.get("error_description") or body.get("error") or response.text[:200]
        raise AuthError(f"Salesforce refused the {data.get('grant_type')} grant: {reason}",
                        status=response.status_code)
    return Token(instance_url=str(body.get("instance_url") or login_url).rstrip("/"),
                 access_token=str(body["access_token"]))


@dataclass(frozen=True)
class JwtBearerFlow:
    """OAuth 2.0 JWT bearer: a Connected App with a certificate, pre-authorized for the user."""

    login_url: str
    client_id: str
    username: str
    private_key: str
    name: str = "jwt_bearer"

    def assertion(self, now: float | None = None) -> str:
        """The RS256-signed JWT Salesforce expects (iss=client id, sub=user, aud=login host)."""
        now = time.time() if now is None else now
        claims = {"iss": self.client_id, "sub": self.username, "aud": self.login_url.rstrip("/"),
                  "exp": int(now) + JWT_LIFETIME_SECONDS}
        return jwt.encode(claims, self.private_key, algorithm="RS256")

    def fetch(self, session: requests.Session, timeout: float) -> Token:
        """Exchange a fresh assertion for a token."""
        return _token_request(session, self.login_url, {"grant_type": JWT_GRANT, "assertion": self.assertion()},
                              timeout)


@dataclass(frozen=True)
class ClientCredentialsFlow:
    """OAuth 2.0 client credentials: the Connected App runs as its configured integration user."""

    login_url: str
    client_id: str
    client_secret: str
    name: str = "client_credentials"

    def fetch(self, session: requests.Session, timeout: float) -> Token:
        """Ask for a token with the app's id and secret."""
        data = {"grant_type": "client_credentials", "client_id": self.client_id,
                "client_secret": self.client_secret}
        return _token_request(session, self.login_url, data, timeout)


@dataclass(frozen=True)
class PasswordFlow:
    """OAuth 2.0 username-password (password followed by the user's security token)."""

    login_url: str
    client_id: str
    client_secret: str
    username: str
    password: str
    name: str = "password"

    def fetch(self, session: requests.Session, timeout: float) -> Token:
        """Ask for a token with the user's password."""
        data = {"grant_type": "password", "client_id": self.client_id, "client_secret": self.client_secret,
                "username": self.username, "password": self.password}
        return _token_request(session, self.login_url, data, timeout)


@dataclass(frozen=True)
class Credentials:
    """What the gateway may use: an initial token (optional) and a flow to get fresh ones (optional)."""

    initial: Token | None
    flow: Flow | None
    ca_bundle: str = ""
    # The settings an admin fixes when Salesforce refuses the session (named in AuthError's message).
    settings_hint: str = ""

    @property
    def description(self) -> str:
        """Which way of signing in is configured (for logs and /healthz; never a secret)."""
        if self.flow is not None:
            return self.flow.name + (" (initial token given)" if self.initial else "")
        return "access_token"


def credentials_from_settings(settings: Any, devorg: dict[str, str] | None = None) -> Credentials:
    """Choose the flow from the settings; with no Salesforce settings, from the dev org's connection file.

    Raises AuthError when the settings do not describe any usable way to sign in.
    """
    flow: Flow | None = None
    if not settings.salesforce_configured:
        if devorg is None:
            raise AuthError("no Salesforce settings are given and the dev org's connection.json was not found "
                            f"in {settings.devorg_dir}; start the dev org or set SALESFORCE_* variables")
        login_url = devorg.get("login_url") or devorg["instance_url"]
        initial = Token(devorg["instance_url"].rstrip("/"), devorg["access_token"]) \
            if devorg.get("access_token") else None
        flow = ClientCredentialsFlow(login_url, devorg["client_id"], devorg["client_secret"]) \
            if devorg.get("client_id") else None
        hint = (f"restart the dev org (`make run`) so it writes a fresh connection.json in DEVORG_DIR "
                f"({settings.devorg_dir}), or set SALESFORCE_* variables")
        return Credentials(initial=initial, flow=flow, ca_bundle=devorg.get("ca_bundle", ""), settings_hint=hint)

    s = settings
    login_url = s.salesforce_login_url
    if s.salesforce_private_key_file and s.salesforce_client_id and s.salesforce_username:
        with open(s.salesforce_private_key_file, encoding="utf-8") as handle:
            flow = JwtBearerFlow(login_url, s.salesforce_client_id, s.salesforce_username, handle.read())
    elif s.salesforce_client_id and s.salesforce_client_secret and s.salesforce_username and s.salesforce_password:
        flow = PasswordFlow(login_url, s.salesforce_client_id, s.salesforce_client_secret,
                            s.salesforce_username, s.salesforce_password)
    elif s.salesforce_client_id and s.salesforce_client_secret:
        # Client credentials must go to the org's My Domain, which is its instance URL when given.
        flow = ClientCredentialsFlow(s.salesforce_instance_url or login_url, s.salesforce_client_id,
                                     s.salesforce_client_secret)
    initial = None
    if s.salesforce_instance_url and s.salesforce_access_token:
        initial = Token(s.salesforce_instance_url.rstrip("/"), s.salesforce_access_token)
    if flow is None and initial is None:
        raise AuthError("the SALESFORCE_* settings describe no way to sign in: give SALESFORCE_INSTANCE_URL + "
                        "SALESFORCE_ACCESS_TOKEN, or SALESFORCE_CLIENT_ID with a secret, key file or password")
    return Credentials(initial=initial, flow=flow, ca_bundle=s.salesforce_ca_bundle,
                       settings_hint=settings_hint(flow))


# What to check per way of signing in, when Salesforce refuses the session (INVALID_SESSION_ID).
_FLOW_HINTS = {
    "jwt_bearer": "check SALESFORCE_CLIENT_ID, SALESFORCE_USERNAME and SALESFORCE_PRIVATE_KEY_FILE "
                  "(the Connected App must hold the key's certificate and be pre-authorized for the user)",
    "password": "check SALESFORCE_USERNAME, SALESFORCE_PASSWORD (the password followed by the security token), "
                "SALESFORCE_CLIENT_ID and SALESFORCE_CLIENT_SECRET",
    "client_credentials": "check SALESFORCE_CLIENT_ID and SALESFORCE_CLIENT_SECRET (and the Connected App's "
                          "run-as user)",
}
NO_FLOW_HINT = ("set a new SALESFORCE_ACCESS_TOKEN, or configure a sign-in flow (SALESFORCE_CLIENT_ID with "
                "SALESFORCE_CLIENT_SECRET, SALESFORCE_PRIVATE_KEY_FILE or SALESFORCE_PASSWORD) so tsunagi "
                "can sign in again by itself")


def settings_hint(flow: Flow | None) -> str:
    """The settings an admin should look at when `flow` (None: a bare access token) no longer gets a session."""
    if flow is None:
        return NO_FLOW_HINT
    return _FLOW_HINTS.get(flow.name, "check the SALESFORCE_* sign-in settings")
