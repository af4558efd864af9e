"""The certificate and private key ``passgate serve`` answers https with.

uvicorn loads them in every worker process, through OpenSSL, whose failures are a
traceback per worker (and, for an encrypted key, a passphrase prompt on the terminal).
:func:`check_tls_files` reads both files first, in the command's own process, and refuses
what OpenSSL would refuse with one line that names the option or variable, the file and
what is wrong: an unreadable file, a file that is not PEM, a key that is encrypted, a key
that is not the certificate's. No key material is ever part of a message.
"""

from __future__ import annotations

import dataclasses
import re
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from passgate.errors import ConfigurationError

__all__ = ["TlsFile", "TlsFiles", "check_tls_files"]

_DER = serialization.Encoding.DER
_SPKI = serialization.PublicFormat.SubjectPublicKeyInfo
#: Where in CPython an ``ssl.SSLError`` was raised: `` (_ssl.c:3905)``, noise for a reader.
_SOURCE_LINE = re.compile(r" \(_ssl\.c:\d+\)$")


@dataclasses.dataclass(frozen=True, slots=True)
class TlsFile:
    """A file given for TLS, and where it was given (``--tls-cert`` or the variable)."""

    path: Path
    source: str


@dataclasses.dataclass(frozen=True, slots=True)
class TlsFiles:
    """A certificate (chain) file and the private key of its first certificate."""

    cert: TlsFile
    key: TlsFile


def check_tls_files(files: TlsFiles) -> None:
    """Refuse (:class:`ConfigurationError`, one line) files OpenSSL could not serve with."""
    certificate = _leaf_certificate(files.cert)
    key = _private_key(files.key)
    if certificate.public_key().public_bytes(_DER, _SPKI) != key.public_key().public_bytes(
        _DER, _SPKI
    ):
        raise ConfigurationError(
            f"{files.key.source}: {files.key.path} is not the private key of the certificate "
            f"in {files.cert.path} ({files.cert.source}); expected the key the certificate "
            "was issued for"
        )
    _check_openssl_accepts(files)


def _read(file: TlsFile) -> bytes:
    try:
        return file.path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(
            f"{file.source}: cannot read {file.path}: {exc.strerror or exc}; expected a PEM "
            "file the server's user can read"
        ) from None


def _leaf_certificate(file: TlsFile) -> x509.Certificate:
    """The first certificate of a PEM chain file (the server's own)."""
    data = _read(file)
    try:
        chain = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise ConfigurationError(
            f"{file.source}: {file.path} is not a PEM certificate; expected "
            "'-----BEGIN CERTIFICATE-----' blocks, the server's certificate first"
            f"{_der_hint(data, 'x509')}"
        ) from None
    return chain[0]


def _private_key(file: TlsFile) -> PrivateKeyTypes:
    data = _read(file)
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError:  # "Password was not given but private key is encrypted"
        raise ConfigurationError(
            f"{file.source}: {file.path} is encrypted with a passphrase; expected an "
            "unencrypted PEM private key (`openssl pkey -in KEY -out NEW_KEY` decrypts it), "
            "readable only by the server's user"
        ) from None
    except UnsupportedAlgorithm:
        raise ConfigurationError(
            f"{file.source}: {file.path} holds a kind of private key this system cannot use; "
            "expected an RSA, EC or Ed25519 key"
        ) from None
    except ValueError:
        raise ConfigurationError(
            f"{file.source}: {file.path} is not a PEM private key; expected a "
            f"'-----BEGIN PRIVATE KEY-----' block (or RSA/EC PRIVATE KEY){_der_hint(data, 'pkey')}"
        ) from None


def _der_hint(data: bytes, command: str) -> str:
    """How to convert, when ``data`` looks like DER (binary ASN.1: a SEQUENCE)."""
    if data[:1] != b"\x30":
        return ""
    return (
        f" (it looks like DER: `openssl {command} -inform DER -in FILE -out NEW_FILE` converts it)"
    )


def _check_openssl_accepts(files: TlsFiles) -> None:
    """What uvicorn will do in each worker, done once here: OpenSSL may refuse what
    ``cryptography`` parsed (a key too weak for its security level, say)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(files.cert.path, files.key.path, password=_no_passphrase)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigurationError(
            f"{files.cert.source}, {files.key.source}: OpenSSL refuses {files.cert.path} "
            f"with {files.key.path}: {_SOURCE_LINE.sub('', str(exc))}"
        ) from None


def _no_passphrase() -> str:
    """Never prompt on the terminal for a passphrase (the key was checked unencrypted)."""
    return ""
