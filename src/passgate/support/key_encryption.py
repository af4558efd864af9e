"""Key-encryption keys: the signing keys' private halves are stored sealed under one.

A key-encryption key is 32 random bytes, written base64url (43 characters; padding and the
standard ``+/`` alphabet are accepted too). ``PASSGATE_KEY_ENCRYPTION_KEY`` holds one or
more of them separated by commas, the key file in the data directory one a line. The
first key seals; every key listed unseals, so that a new key can be rolled out to every
instance before anything is sealed under it, and the old one dropped after
``passgate keys rewrap`` (see the README's *Key-encryption key* section).

Sealing is AES-256-GCM with a random 96-bit nonce, and the signing key's ``kid`` as
associated data (a sealed key copied onto another row does not open). The result is
``v1.`` + base64url(nonce ‖ ciphertext ‖ tag); the database keeps beside it the id of the
key that sealed it: the first 16 hex digits of a SHA-256 of the key, which tell the keys
apart without revealing them. No error message here contains key material.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import hashlib
import os
import secrets
import stat
from collections.abc import Collection, Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from passgate.errors import ConfigurationError

__all__ = [
    "ENV_VARIABLE",
    "KEY_FILE_NAME",
    "KeyEncryptionError",
    "KeyEncryptionKey",
    "KeyEncryptionKeys",
    "create_key_file",
    "load_key_file",
    "load_keys",
    "write_key_file",
]

ENV_VARIABLE = "PASSGATE_KEY_ENCRYPTION_KEY"
#: The embedded default's key file, in the data directory.
KEY_FILE_NAME = "key-encryption-key"
KEY_BYTES = 32
_NONCE_BYTES = 12
_FORMAT = "v1."
_EXPECTED = "32 random bytes, base64url-encoded (43 characters)"


class KeyEncryptionError(ConfigurationError):
    """A key-encryption key that is missing, malformed, unsafe or not the one that sealed."""


@dataclasses.dataclass(frozen=True, slots=True)
class KeyEncryptionKey:
    id: str
    secret: bytes = dataclasses.field(repr=False)

    @classmethod
    def generate(cls) -> KeyEncryptionKey:
        return cls.of(secrets.token_bytes(KEY_BYTES))

    @classmethod
    def of(cls, secret: bytes) -> KeyEncryptionKey:
        if len(secret) != KEY_BYTES:
            raise ValueError(f"a key-encryption key is {KEY_BYTES} bytes")
        fingerprint = hashlib.sha256(b"passgate key-encryption key\0" + secret).hexdigest()
        return cls(id=fingerprint[:16], secret=secret)

    def text(self) -> str:
        """The key as it is written in the setting or the key file."""
        return base64.urlsafe_b64encode(self.secret).rstrip(b"=").decode("ascii")


def _parse_one(text: str, source: str, position: int) -> KeyEncryptionKey:
    where = f"{source} (key {position})" if position > 1 else source
    cleaned = text.strip().replace("+", "-").replace("/", "_").rstrip("=")
    if not cleaned or not cleaned.isascii():
        raise KeyEncryptionError(f"{where}: expected {_EXPECTED}")
    try:
        secret = base64.b64decode(
            cleaned + "=" * (-len(cleaned) % 4), altchars=b"-_", validate=True
        )
    except (binascii.Error, ValueError):
        raise KeyEncryptionError(f"{where}: expected {_EXPECTED}") from None
    if len(secret) != KEY_BYTES:
        raise KeyEncryptionError(f"{where}: expected {_EXPECTED}; this one is {len(secret)} bytes")
    return KeyEncryptionKey.of(secret)


class KeyEncryptionKeys:
    """The configured keys: the first seals, every one unseals. ``source`` names where
    they came from (the variable or the file) in error messages."""

    def __init__(self, keys: Sequence[KeyEncryptionKey], *, source: str) -> None:
        if not keys:
            raise KeyEncryptionError(f"{source}: expected {_EXPECTED}")
        self.keys = tuple(keys)
        self.source = source
        self._by_id = {key.id: key for key in self.keys}

    @classmethod
    def from_text(cls, text: str, *, source: str) -> KeyEncryptionKeys:
        """Keys separated by commas or new lines (blank lines and ``#`` comments skipped)."""
        parts = [
            part
            for line in text.splitlines()
            if not line.lstrip().startswith("#")
            for part in line.split(",")
            if part.strip()
        ]
        return cls([_parse_one(part, source, n) for n, part in enumerate(parts, 1)], source=source)

    @property
    def current(self) -> KeyEncryptionKey:
        return self.keys[0]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(key.id for key in self.keys)

    def accepts(self, kek_id: str) -> bool:
        return kek_id in self._by_id

    def seal(self, plaintext: str, *, kid: str) -> str:
        """``plaintext`` sealed under the current key, bound to ``kid``."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = AESGCM(self.current.secret).encrypt(
            nonce, plaintext.encode("utf-8"), kid.encode("utf-8")
        )
        return _FORMAT + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def unseal(self, sealed: str, *, kek_id: str, kid: str, what: str = "signing key") -> str:
        """What :meth:`seal` sealed for ``kid`` under the key ``kek_id``; ``what`` names
        the sealed thing in errors."""
        key = self._by_id.get(kek_id)
        if key is None:
            raise KeyEncryptionError(
                f"{what} {kid} is encrypted with key-encryption key {kek_id}, "
                f"which {self.source} does not hold (it has {', '.join(self.ids)}): "
                f"wrong key?"
            )
        try:
            if not sealed.startswith(_FORMAT):
                raise ValueError("unknown format")
            blob = base64.b64decode(sealed[len(_FORMAT) :], altchars=b"-_", validate=True)
            nonce, body = blob[:_NONCE_BYTES], blob[_NONCE_BYTES:]
            plaintext = AESGCM(key.secret).decrypt(nonce, body, kid.encode("utf-8"))
            return plaintext.decode("utf-8")
        except (InvalidTag, ValueError, binascii.Error):
            raise KeyEncryptionError(
                f"{what} {kid} does not open with key-encryption key {kek_id}: "
                f"its stored form is damaged"
            ) from None


# -- the key file --------------------------------------------------------------------


def load_key_file(path: Path) -> KeyEncryptionKeys | None:
    """The keys in ``path``, or None when it does not exist. Refused when group or others
    have any access to it, or when it cannot be read."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise KeyEncryptionError(f"cannot read key file {path}: {exc.strerror}") from None
    if stat.S_ISREG(mode) and stat.S_IMODE(mode) & 0o077:
        raise KeyEncryptionError(
            f"key file {path} is open to group or others (mode {stat.S_IMODE(mode):04o}): "
            f"run chmod 600 {path}"
        )
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not ASCII text"
        raise KeyEncryptionError(f"cannot read key file {path}: {reason}") from None
    return KeyEncryptionKeys.from_text(text, source=f"key file {path}")


def _write_new(path: Path, keys: Sequence[KeyEncryptionKey]) -> None:
    """Write ``keys`` to the new file ``path``, created with mode 0600 (never more open,
    whatever the umask), flushed to disk."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(descriptor, 0o600)
        data = "".join(key.text() + "\n" for key in keys).encode("ascii")
        os.write(descriptor, data)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")


def _sync_directory(directory: Path) -> None:
    """Make a new name in ``directory`` survive a crash."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def create_key_file(path: Path) -> KeyEncryptionKeys:
    """A new key in a new key file at ``path``; if another process created the file first,
    its keys. The file appears complete, with mode 0600, or not at all."""
    temporary = _temporary(path)
    _write_new(temporary, [KeyEncryptionKey.generate()])
    try:
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)  # never replaces a key file that exists
    finally:
        temporary.unlink()
    _sync_directory(path.parent)
    keys = load_key_file(path)
    assert keys is not None
    return keys


def write_key_file(path: Path, keys: Sequence[KeyEncryptionKey]) -> None:
    """Replace the key file at ``path`` with ``keys``, atomically (mode 0600)."""
    temporary = _temporary(path)
    _write_new(temporary, keys)
    try:
        os.replace(temporary, path)
    except OSError:
        temporary.unlink()
        raise
    _sync_directory(path.parent)


def load_keys(
    configured: str | None, key_file: Path, *, sealed_with: Collection[str], may_create: bool
) -> KeyEncryptionKeys:
    """The key-encryption keys to use: ``configured`` (the variable's value) when set, else
    those of ``key_file``. A key file is created only with ``may_create`` (the embedded
    default) and while nothing is sealed yet (``sealed_with`` lists the ids of the keys
    that sealed what is stored): a new key would open none of it."""
    if configured is not None:
        return KeyEncryptionKeys.from_text(configured, source=ENV_VARIABLE)
    keys = load_key_file(key_file)
    if keys is not None:
        return keys
    if sealed_with:
        raise KeyEncryptionError(
            f"the signing keys are encrypted with key-encryption key "
            f"{', '.join(sorted(sealed_with))}, but {ENV_VARIABLE} is not set and key file "
            f"{key_file} does not exist: restore the file, or set {ENV_VARIABLE}"
        )
    if not may_create:
        raise KeyEncryptionError(
            f"{ENV_VARIABLE} is not set: with PostgreSQL every instance needs the same "
            f"key-encryption key, {_EXPECTED} (or a key file {key_file})"
        )
    return create_key_file(key_file)
