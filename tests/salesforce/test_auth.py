"""Signing in: every OAuth flow the settings can describe, and the dev org fallback."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs

import jwt
import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from config.settings import load_settings
from salesforce import build_gateway
from salesforce.errors import AuthError

from .conftest import API, LOGIN, ORG, token_answer

pytestmark = pytest.mark.db_independent


def settings_with(tmp_path, **environ):
    return load_settings(environ={"SECRET_KEY": "k", **environ}, instance_path=tmp_path / "instance")


def form(call) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(call.request.body).items()}


def answer_query(fake_org, records=()):
    return fake_org.add(responses.GET, f"{API}/query/", json={"done": True, "totalSize": len(records),
                                                             "records": list(records)})


def test_jwt_bearer_signs_a_valid_rs256_assertion_for_the_integration_user(tmp_path, fake_org):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "server.key"
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    settings = settings_with(tmp_path, SALESFORCE_PRIVATE_KEY_FILE=str(key_file), SALESFORCE_CLIENT_ID="consumer-key",
                             SALESFORCE_USERNAME="integration@coop.example", SALESFORCE_LOGIN_URL=LOGIN)
    token = token_answer(fake_org, "jwt-token")
    query = answer_query(fake_org)

    list(build_gateway(settings).query("SELECT Id FROM Lead"))

    sent = form(token.calls[0])
    assert sent["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert jwt.get_unverified_header(sent["assertion"])["alg"] == "RS256"
    claims = jwt.decode(sent["assertion"], key.public_key(), algorithms=["RS256"], audience=LOGIN)
    assert claims["iss"] == "consumer-key"
    assert claims["sub"] == "integration@coop.example"
    assert time.time() < claims["exp"] <= time.time() + 180
    assert query.calls[0].request.headers["Authorization"] == "Bearer jwt-token"


def test_client_credentials_go_to_the_orgs_my_domain(tmp_path, fake_org):
    settings = settings_with(tmp_path, SALESFORCE_INSTANCE_URL=ORG, SALESFORCE_CLIENT_ID="cid",
                             SALESFORCE_CLIENT_SECRET="csecret")
    token = token_answer(fake_org, "cc-token", login_url=ORG)
    query = answer_query(fake_org)

    list(build_gateway(settings).query("SELECT Id FROM Lead"))

    assert form(token.calls[0]) == {"grant_type": "client_credentials", "client_id": "cid",
                                    "client_secret": "csecret"}
    assert query.calls[0].request.headers["Authorization"] == "Bearer cc-token"


def test_username_password_flow_sends_the_password_grant(tmp_path, fake_org):
    settings = settings_with(tmp_path, SALESFORCE_CLIENT_ID="cid", SALESFORCE_CLIENT_SECRET="cs",
                             SALESFORCE_USERNAME="u@coop.example", SALESFORCE_PASSWORD="pw+token",
                             SALESFORCE_LOGIN_URL=LOGIN)
    token = token_answer(fake_org, "pw-token")
    query = answer_query(fake_org)

    list(build_gateway(settings).query("SELECT Id FROM Lead"))

    assert form(token.calls[0]) == {"grant_type": "password", "client_id": "cid", "client_secret": "cs",
                                    "username": "u@coop.example", "password": "pw+token"}
    assert query.calls[0].request.headers["Authorization"] == "Bearer pw-token"


def test_a_given_access_token_is_used_without_signing_in(tmp_path, fake_org):
    settings = settings_with(tmp_path, SALESFORCE_INSTANCE_URL=ORG, SALESFORCE_ACCESS_TOKEN="given-token")
    query = answer_query(fake_org)

    list(build_gateway(settings).query("SELECT Id FROM Lead"))

    assert len(fake_org.calls) == 1
    assert query.calls[0].request.headers["Authorization"] == "Bearer given-token"


def test_without_salesforce_settings_the_dev_orgs_connection_file_is_used(tmp_path, fake_org):
    devorg_dir = tmp_path / "devorg"
    devorg_dir.mkdir()
    (devorg_dir / "connection.json").write_text(json.dumps({
        "instance_url": ORG, "login_url": ORG, "access_token": "", "client_id": "dev-id",
        "client_secret": "dev-secret", "org_id": "00D000000000001AAA", "ca_bundle": "",
    }))
    settings = settings_with(tmp_path, DEVORG_DIR=str(devorg_dir))
    token = token_answer(fake_org, "dev-token", login_url=ORG)
    query = answer_query(fake_org)

    list(build_gateway(settings).query("SELECT Id FROM Lead"))

    assert form(token.calls[0])["client_id"] == "dev-id"
    assert query.calls[0].request.headers["Authorization"] == "Bearer dev-token"


def test_no_settings_and_no_dev_org_is_a_clear_auth_error(tmp_path):
    settings = settings_with(tmp_path, DEVORG_DIR=str(tmp_path / "nowhere"))
    with pytest.raises(AuthError, match=r"connection\.json"):
        build_gateway(settings)


def test_a_refused_grant_is_an_auth_error_with_salesforces_reason(tmp_path, fake_org):
    settings = settings_with(tmp_path, SALESFORCE_INSTANCE_URL=ORG, SALESFORCE_CLIENT_ID="cid",
                             SALESFORCE_CLIENT_SECRET="wrong")
    fake_org.add(responses.POST, f"{ORG}/services/oauth2/token", status=400,
                 json={"error": "invalid_client", "error_description": "invalid client credentials"})

    with pytest.raises(AuthError, match="invalid client credentials"):
        list(build_gateway(settings).query("SELECT Id FROM Lead"))
