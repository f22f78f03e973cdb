"""DKIM signing with dkimpy when DKIM_SELECTOR, DKIM_DOMAIN and DKIM_PRIVATE_KEY_FILE are set."""

from __future__ import annotations

import base64

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from config.settings import SettingsError, load_settings


def _write_key(path, key) -> str:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return str(path)


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _dns(key, name: bytes = b"s1._domainkey.mail.example.jp."):
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)

    def txt(queried: bytes, timeout: float = 5) -> bytes | None:
        return record if queried == name else None

    return txt


@pytest.fixture
def signing_app(mail_app, rsa_key, tmp_path):
    settings = mail_app.config["TSUNAGI"]
    mail_app.config["TSUNAGI"] = settings.__class__(**{
        **settings.__dict__, "dkim_selector": "s1", "dkim_domain": "mail.example.jp",
        "dkim_private_key_file": _write_key(tmp_path / "dkim.pem", rsa_key)})
    return mail_app


def test_mail_received_over_smtp_verifies_against_the_published_key(signing_app, rsa_key, smtp_sink, add_template,
                                                                    enqueue, drain):
    add_template()
    enqueue("dkim-marketing", to="taro@example.jp")
    enqueue("dkim-notice", to="hanako@example.jp", marketing=False)
    drain()
    received = {m.rcpt_tos[0]: m for m in smtp_sink.wait_for(2)}
    marketing = received["taro@example.jp"].data
    assert dkim.verify(marketing, dnsfunc=_dns(rsa_key))
    signature = marketing.split(b"\r\n\r\n", 1)[0].decode()
    assert "d=mail.example.jp" in signature and "s=s1" in signature
    signed = signature.split(" h=", 1)[1].split(";", 1)[0].replace("\r\n", "").replace(" ", "").lower().split(":")
    for header in ("from", "to", "subject", "date", "message-id", "list-unsubscribe", "list-unsubscribe-post",
                   "mime-version", "content-type"):
        assert header in signed
    assert dkim.verify(received["hanako@example.jp"].data, dnsfunc=_dns(rsa_key))

    # What a receiver sees when the mail is changed on the way, or the key is not the published one.
    assert not dkim.verify(marketing.replace(b"Subject: ", b"Subject: Re: ", 1), dnsfunc=_dns(rsa_key))
    # Transactional mail signs List-Unsubscribe as absent: adding one on the way breaks the signature.
    notice = received["hanako@example.jp"].data
    assert b"\r\nList-Unsubscribe:" not in notice.split(b"\r\n\r\n", 1)[0]
    tampered = notice.replace(b"\r\nMIME-Version:",
                              b"\r\nList-Unsubscribe: <https://evil.example/u>\r\nMIME-Version:", 1)
    assert tampered != notice and not dkim.verify(tampered, dnsfunc=_dns(rsa_key))
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert not dkim.verify(marketing, dnsfunc=_dns(other))


def test_without_dkim_settings_mail_is_not_signed(mail_app, smtp_sink, add_template, enqueue, drain):
    add_template()
    enqueue("plain")
    drain()
    assert smtp_sink.wait_for(1)[0].message["DKIM-Signature"] is None


@pytest.mark.db_independent
def test_dkim_settings_are_all_or_none_and_checked_at_start(tmp_path, rsa_key):
    key_file = _write_key(tmp_path / "dkim.pem", rsa_key)
    base = {"SECRET_KEY": "x"}
    with pytest.raises(SettingsError, match="missing: DKIM_DOMAIN"):
        load_settings({**base, "DKIM_SELECTOR": "s1", "DKIM_PRIVATE_KEY_FILE": key_file}, tmp_path)
    with pytest.raises(SettingsError, match="DKIM_PRIVATE_KEY_FILE"):
        load_settings({**base, "DKIM_SELECTOR": "s1", "DKIM_DOMAIN": "mail.example.jp"}, tmp_path)
    (tmp_path / "junk.pem").write_text("not a key")
    with pytest.raises(SettingsError, match="not an unencrypted PEM private key"):
        load_settings({**base, "DKIM_SELECTOR": "s1", "DKIM_DOMAIN": "mail.example.jp",
                       "DKIM_PRIVATE_KEY_FILE": str(tmp_path / "junk.pem")}, tmp_path)
    ed_file = _write_key(tmp_path / "ed.pem", ed25519.Ed25519PrivateKey.generate())
    with pytest.raises(SettingsError, match="not an RSA key"):
        load_settings({**base, "DKIM_SELECTOR": "s1", "DKIM_DOMAIN": "mail.example.jp",
                       "DKIM_PRIVATE_KEY_FILE": ed_file}, tmp_path)
    with pytest.raises(SettingsError, match="DKIM_DOMAIN"):
        load_settings({**base, "DKIM_SELECTOR": "s1", "DKIM_DOMAIN": "mail example",
                       "DKIM_PRIVATE_KEY_FILE": key_file}, tmp_path)
    settings = load_settings({**base, "DKIM_SELECTOR": "s1", "DKIM_DOMAIN": "mail.example.jp",
                              "DKIM_PRIVATE_KEY_FILE": key_file}, tmp_path)
    assert settings.dkim_selector == "s1"
