"""Self-signed X.509 certificates of the signing keys, as Auth0 publishes its keys
(``cert``, ``pkcs7``, ``fingerprint``, ``thumbprint`` in ``/api/v2/keys/signing``).

A certificate is a function of the key, its ``kid``, the subject and the key's creation
time: RS256 signatures are deterministic and ES256 ones are made deterministic (RFC
6979), so every process makes the same certificate, byte for byte, and the same
fingerprint.
"""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

__all__ = ["Certificate", "self_signed"]

#: How long a certificate is valid (Auth0's are ten years too).
VALIDITY = timedelta(days=3650)


@dataclasses.dataclass(frozen=True, slots=True)
class Certificate:
    pem: str
    pkcs7: str
    #: SHA-1 of the DER certificate: ``AB:CD:…`` (fingerprint) and ``ABCD…`` (thumbprint).
    fingerprint: str
    thumbprint: str


def self_signed(
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    *,
    kid: str,
    subject: str,
    created_at: float,
) -> Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject[:64] or "passgate")])
    start = datetime.fromtimestamp(int(created_at), UTC)
    serial = int.from_bytes(hashlib.sha256(kid.encode()).digest()[:19], "big") >> 1
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(serial or 1)
        .not_valid_before(start)
        .not_valid_after(start + VALIDITY)
    )
    if isinstance(private, rsa.RSAPrivateKey):
        cert = builder.sign(private, hashes.SHA256())
    else:
        cert = builder.sign(private, hashes.SHA256(), ecdsa_deterministic=True)
    der = cert.public_bytes(serialization.Encoding.DER)
    digest = hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()
    return Certificate(
        pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        pkcs7=pkcs7.serialize_certificates([cert], serialization.Encoding.PEM).decode("ascii"),
        fingerprint=":".join(digest[i : i + 2] for i in range(0, len(digest), 2)),
        thumbprint=digest,
    )
