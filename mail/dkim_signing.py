"""DKIM signing of outgoing mail with dkimpy, when DKIM_SELECTOR, DKIM_DOMAIN and DKIM_PRIVATE_KEY_FILE are set.

For a relay that does not sign (a plain Postfix): tsunagi adds the DKIM-Signature itself
(rsa-sha256, relaxed/relaxed, RFC 6376) before the message is handed over. The message bytes are
final when composed, so a retried mail carries the same valid signature.

The signed headers are the ones a receiver shows or acts on, including the RFC 8058
List-Unsubscribe pair; a header in the list that a mail lacks (transactional mail has no
List-Unsubscribe) is signed as absent, so nobody can add it on the way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SIGNED_HEADERS = (b"From", b"To", b"Subject", b"Date", b"Message-ID", b"List-Unsubscribe",
                  b"List-Unsubscribe-Post", b"MIME-Version", b"Content-Type", b"Content-Transfer-Encoding")
_SELECTOR = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*$")
_DOMAIN = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")


def load_private_key(path: str) -> bytes:
    """The RSA private key of `path` (PEM, PKCS#1 or PKCS#8, unencrypted) as the PKCS#1 PEM dkimpy reads.

    Raises ValueError with what is wrong.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path!r}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path!r} is not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path!r} is not an RSA key (DKIM signing here is rsa-sha256)")
    if key.key_size < 1024:
        raise ValueError(f"{path!r} is a {key.key_size}-bit key; receivers ignore keys under 1024 bits (use 2048)")
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def check_settings(selector: str, domain: str, key_file: str) -> None:
    """Raise ValueError unless the three DKIM settings are all empty or all set and usable."""
    given = [bool(selector), bool(domain), bool(key_file)]
    if not any(given):
        return
    if not all(given):
        missing = [name for name, ok in zip(("DKIM_SELECTOR", "DKIM_DOMAIN", "DKIM_PRIVATE_KEY_FILE"), given,
                                            strict=True) if not ok]
        raise ValueError(f"DKIM signing needs DKIM_SELECTOR, DKIM_DOMAIN and DKIM_PRIVATE_KEY_FILE together; "
                         f"missing: {', '.join(missing)}")
    if not _SELECTOR.match(selector):
        raise ValueError(f"DKIM_SELECTOR {selector!r} is not a DNS label such as s1 or 2026a")
    if not _DOMAIN.match(domain):
        raise ValueError(f"DKIM_DOMAIN {domain!r} is not a domain name such as mail.example.jp")
    try:
        load_private_key(key_file)
    except ValueError as exc:
        raise ValueError(f"DKIM_PRIVATE_KEY_FILE: {exc}") from None


@dataclass(frozen=True)
class DkimSigner:
    """Signs message bytes as `domain` with the key published under `selector._domainkey.domain`."""

    selector: bytes
    domain: bytes
    private_key: bytes

    @classmethod
    def from_settings(cls, settings: Any) -> DkimSigner | None:
        """None when DKIM signing is not configured."""
        if not settings.dkim_private_key_file:
            return None
        return cls(selector=settings.dkim_selector.encode("ascii"), domain=settings.dkim_domain.lower().encode("ascii"),
                   private_key=load_private_key(settings.dkim_private_key_file))

    def sign(self, message: bytes) -> bytes:
        """The message with its DKIM-Signature header prepended."""
        import dkim

        header = dkim.sign(message, self.selector, self.domain, self.private_key,
                           canonicalize=(b"relaxed", b"relaxed"), include_headers=list(SIGNED_HEADERS),
                           linesep=b"\r\n")
        return header + message
