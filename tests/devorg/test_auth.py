"""OAuth flows of the dev org: password and JWT bearer, and what it refuses."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

pytestmark = pytest.mark.db_independent


def _token(devorg, **form):
    return devorg.session().post(f"{devorg.login_url}/services/oauth2/token", data=form)


def _assertion(devorg, key_pem: bytes, **claims):
    body = {"iss": devorg.client_id, "sub": devorg.username, "aud": "https://login.salesforce.com",
            "exp": int(time.time()) + 180, **claims}
    return jwt.encode(body, key_pem, algorithm="RS256")


def test_password_flow_returns_token_of_that_user(devorg):
    response = _token(devorg, grant_type="password", client_id=devorg.client_id, client_secret=devorg.client_secret,
                      username=devorg.username, password=devorg.password)
    assert response.status_code == 200
    assert response.json()["id"].endswith(devorg.integration_user_id)
    wrong = _token(devorg, grant_type="password", client_id=devorg.client_id, client_secret=devorg.client_secret,
                   username=devorg.username, password="wrong")
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"


def test_jwt_bearer_signed_with_the_connected_app_key_is_accepted(devorg):
    key = Path(devorg.jwt_private_key).read_bytes()
    response = _token(devorg, grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer",
                      assertion=_assertion(devorg, key))
    assert response.status_code == 200
    token = response.json()["access_token"]
    assert devorg.session().get(f"{devorg.instance_url}/services/data/v59.0/limits",
                                headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_jwt_bearer_signed_with_another_key_is_refused(devorg):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    response = _token(devorg, grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer",
                      assertion=_assertion(devorg, other))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_jwt_bearer_for_unknown_user_or_expired_is_refused(devorg):
    key = Path(devorg.jwt_private_key).read_bytes()
    unknown = _token(devorg, grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer",
                     assertion=_assertion(devorg, key, sub="nobody@example.jp"))
    assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_grant"
    expired = _token(devorg, grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer",
                     assertion=_assertion(devorg, key, exp=int(time.time()) - 600))
    assert expired.status_code == 400 and expired.json()["error"] == "invalid_grant"


def test_unknown_grant_type_and_unknown_client(devorg):
    assert _token(devorg, grant_type="magic").json()["error"] == "unsupported_grant_type"
    refused = _token(devorg, grant_type="client_credentials", client_id="nope", client_secret=devorg.client_secret)
    assert refused.json() == {"error": "invalid_client_id", "error_description": "client identifier invalid"}


def test_expire_tokens_then_a_new_token_works(devorg):
    old = devorg.access_token()
    devorg.expire_tokens()
    url = f"{devorg.instance_url}/services/data/v59.0/limits"
    refused = devorg.session().get(url, headers={"Authorization": f"Bearer {old}"})
    assert refused.status_code == 401
    assert refused.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    fresh = _token(devorg, grant_type="client_credentials", client_id=devorg.client_id,
                   client_secret=devorg.client_secret).json()["access_token"]
    assert devorg.session().get(url, headers={"Authorization": f"Bearer {fresh}"}).status_code == 200


def test_slow_fault_delays_then_answers(devorg):
    sf = devorg.salesforce()
    devorg.inject_fault(r"/sobjects/Lead/describe", "slow", delay=0.3, method="GET")
    started = time.monotonic()
    assert sf.Lead.describe()["name"] == "Lead"
    assert time.monotonic() - started >= 0.3
