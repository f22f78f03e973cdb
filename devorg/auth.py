"""OAuth 2.0 for the dev org: the token endpoint and bearer-token checks.

Flows on `POST /services/oauth2/token` (form-encoded), answered as Salesforce does:
- `client_credentials`: client_id + client_secret → a token for the integration user;
- `password`: client_id + client_secret + username + password;
- `urn:ietf:params:oauth:grant-type:jwt-bearer`: an RS256 assertion (iss = client_id, sub = username,
  aud = login URL, exp) whose signature is checked against the Connected App certificate.
Errors are 400 `{"error", "error_description"}`; tokens last `session_seconds` unless expired on demand.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")


class OAuthError(Exception):
    """A refused token request: `error` and `error_description` as Salesforce names them."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status


@dataclass
class Auth:
    """Issued tokens (token → user id, expiry) and the Connected App's credentials."""

    org_id: str
    client_id: str
    client_secret: str
    jwt_cert: Path
    session_seconds: int = 7200
    _tokens: dict[str, tuple[str, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def issue(self, user_id: str) -> str:
        """A new access token for `user_id`."""
        token = f"{self.org_id[:15]}!{secrets.token_urlsafe(72)}"
        with self._lock:
            self._tokens[token] = (user_id, time.monotonic() + self.session_seconds)
        return token

    def user_for(self, header: str | None) -> str | None:
        """The user of a valid `Authorization: Bearer|OAuth <token>` header, or None."""
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() not in ("bearer", "oauth") or not token:
            return None
        with self._lock:
            entry = self._tokens.get(token.strip())
            if entry is None:
                return None
            if entry[1] < time.monotonic():
                del self._tokens[token.strip()]
                return None
            return entry[0]

    def expire_all(self) -> None:
        """Invalidate every issued token (the next call answers 401 INVALID_SESSION_ID)."""
        with self._lock:
            self._tokens.clear()

    def token_response(self, form: dict[str, str], instance_url: str, users: dict[str, dict[str, Any]],
                       integration_user_id: str, password: str) -> dict[str, Any]:
        """Answer a token request; `users` maps lower-case usernames to user records."""
        grant = form.get("grant_type", "")
        if grant == "client_credentials":
            self._check_client(form, need_secret=True)
            user_id = integration_user_id
        elif grant == "password":
            self._check_client(form, need_secret=True)
            user = users.get(form.get("username", "").lower())
            if user is None or not user.get("IsActive") or not hmac.compare_digest(form.get("password", ""), password):
                raise OAuthError("invalid_grant", "authentication failure")
            user_id = user["Id"]
        elif grant == JWT_GRANT:
            user_id = self._jwt_user(form.get("assertion", ""), instance_url, users)
        else:
            raise OAuthError("unsupported_grant_type", "grant type not supported")
        token = self.issue(user_id)
        issued_at = str(int(time.time() * 1000))
        identity = f"{instance_url}/id/{self.org_id}/{user_id}"
        signature = base64.b64encode(hmac.new(self.client_secret.encode(), (identity + issued_at).encode(),
                                              hashlib.sha256).digest()).decode()
        return {"access_token": token, "instance_url": instance_url, "id": identity, "token_type": "Bearer",
                "issued_at": issued_at, "signature": signature, "scope": "api"}

    def _check_client(self, form: dict[str, str], need_secret: bool) -> None:
        if not hmac.compare_digest(form.get("client_id", ""), self.client_id):
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if need_secret and not hmac.compare_digest(form.get("client_secret", ""), self.client_secret):
            raise OAuthError("invalid_client", "invalid client credentials")

    def _jwt_user(self, assertion: str, instance_url: str, users: dict[str, dict[str, Any]]) -> str:
        import jwt
        from cryptography import x509
        from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

        public_key = x509.load_pem_x509_certificate(self.jwt_cert.read_bytes()).public_key()
        assert isinstance(public_key, RSAPublicKey)  # RS256, as Salesforce; devorg.tls makes an RSA pair
        try:
            claims = jwt.decode(assertion, public_key, algorithms=["RS256"],
                                audience=[*_AUDIENCES, instance_url], issuer=self.client_id,
                                options={"require": ["exp", "iss", "sub", "aud"]})
        except jwt.InvalidIssuerError:
            raise OAuthError("invalid_client_id", "client identifier invalid") from None
        except jwt.ExpiredSignatureError:
            raise OAuthError("invalid_grant", "expired authorization code") from None
        except jwt.PyJWTError:
            raise OAuthError("invalid_grant", "invalid assertion") from None
        user = users.get(str(claims.get("sub", "")).lower())
        if user is None or not user.get("IsActive"):
            raise OAuthError("invalid_grant", "user hasn't approved this consumer")
        return str(user["Id"])
