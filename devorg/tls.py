"""Certificates of the dev org, made on first run and reused after.

- `ca.pem`: the local certificate authority clients trust (SALESFORCE_CA_BUNDLE);
- `server.pem` / `server-key.pem`: the HTTPS certificate for 127.0.0.1, ::1 and localhost;
- `jwt-cert.pem` / `jwt-key.pem`: the Connected App certificate checked on JWT bearer logins, and the
  private key a client signs its assertions with (SALESFORCE_PRIVATE_KEY_FILE).
"""

from __future__ import annotations

import datetime as dt
import ssl
from dataclasses import dataclass
from pathlib import Path

from config.files import private_dir, write_private


@dataclass(frozen=True)
class Certificates:
    """Paths of the dev org's certificate files."""

    ca: Path
    server_cert: Path
    server_key: Path
    jwt_cert: Path
    jwt_key: Path

    def server_context(self) -> ssl.SSLContext:
        """A server-side TLS context with the dev org's certificate."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(self.server_cert), str(self.server_key))
        return context


def _write_private(path: Path, data: bytes) -> None:
    write_private(path, data)


def _make_jwt_pair(cert_path: Path, key_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tsunagi devorg connected app")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650)).sign(key, hashes.SHA256()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_private(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))


def ensure_certificates(folder: Path) -> Certificates:
    """The dev org's certificates in `folder`, generating whichever are missing."""
    import trustme

    private_dir(folder)
    certs = Certificates(folder / "ca.pem", folder / "server.pem", folder / "server-key.pem",
                         folder / "jwt-cert.pem", folder / "jwt-key.pem")
    if not (certs.ca.is_file() and certs.server_cert.is_file() and certs.server_key.is_file()):
        ca = trustme.CA(organization_name="tsunagi devorg local CA")
        server = ca.issue_cert("127.0.0.1", "::1", "localhost", organization_name="tsunagi devorg")
        certs.ca.write_bytes(ca.cert_pem.bytes())
        _write_private(folder / "ca-key.pem", ca.private_key_pem.bytes())
        server.cert_chain_pems[0].write_to_path(str(certs.server_cert))
        _write_private(certs.server_key, server.private_key_pem.bytes())
    if not (certs.jwt_cert.is_file() and certs.jwt_key.is_file()):
        _make_jwt_pair(certs.jwt_cert, certs.jwt_key)
    return certs
