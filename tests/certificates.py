"""A throwaway certificate authority for tests that serve https.

:func:`make_server_certificate` writes, into a folder, a CA certificate (what clients trust: httpx's
``verify=``, Node's ``NODE_EXTRA_CA_CERTS``) and a server certificate it signed for
``127.0.0.1``, ``::1`` and ``localhost`` with its unencrypted key.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificatePublicKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "ServerCertificate",
    "make_server_certificate",
    "new_key",
    "write_key",
    "write_self_signed",
]

SERVER_NAMES = ("localhost",)
SERVER_ADDRESSES = ("127.0.0.1", "::1")


@dataclasses.dataclass(frozen=True)
class ServerCertificate:
    """The files of a server certificate, its key, and the test CA that issued it."""

    ca_cert: Path
    cert: Path
    key: Path

    def client_context(self) -> ssl.SSLContext:
        """What a client that trusts the test CA (only) verifies the server with."""
        return ssl.create_default_context(cafile=str(self.ca_cert))


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def write_key(
    key: ec.EllipticCurvePrivateKey, path: Path, *, passphrase: bytes | None = None
) -> Path:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    )
    path.chmod(0o600)
    return path


def write_self_signed(key: CertificateIssuerPrivateKeyTypes, path: Path) -> Path:
    """A certificate for ``localhost`` that ``key`` signs itself."""
    certificate = _builder("localhost", "localhost", key.public_key()).sign(key, hashes.SHA256())
    return _write_cert(certificate, path)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(
    subject: str, issuer: str, public_key: CertificatePublicKeyTypes
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
    )


def _write_cert(certificate: x509.Certificate, path: Path) -> Path:
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


def make_server_certificate(folder: Path) -> ServerCertificate:
    """A CA and a server certificate for the loopback names, written into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = new_key()
    ca_name = "passgate test CA"
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    server_key = new_key()
    alt_names: list[x509.GeneralName] = [x509.DNSName(name) for name in SERVER_NAMES]
    alt_names += [x509.IPAddress(ipaddress.ip_address(a)) for a in SERVER_ADDRESSES]
    server_cert = (
        _builder("localhost", ca_name, server_key.public_key())
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return ServerCertificate(
        ca_cert=_write_cert(ca_cert, folder / "ca.pem"),
        cert=_write_cert(server_cert, folder / "server.pem"),
        key=write_key(server_key, folder / "server.key"),
    )
