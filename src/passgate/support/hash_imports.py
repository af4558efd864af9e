"""An imported user's password hash, as a file gives it, to the string passgate stores.

Two properties of Auth0's bulk-import users carry a hash (one of them at most):

``password_hash``
    a string, recognised by its prefix: bcrypt (``$2a$``, ``$2b$``, ``$2y$``: Auth0,
    Devise/Rails, Laravel), Django (``pbkdf2_sha256$``, ``pbkdf2_sha1$``, ``argon2$``,
    ``bcrypt_sha256$``, ``bcrypt$``), Werkzeug/Flask (``pbkdf2:sha256:…``, ``scrypt:…``),
    argon2 and PBKDF2 in PHC form (``$argon2id$``, ``$pbkdf2-sha256$``) and LDAP
    (``{SSHA}…``). It is stored as given, once :func:`legacy_hashes.check` accepts it.
``custom_password_hash``
    Auth0's object: ``algorithm`` (``argon2``, ``bcrypt``, ``pbkdf2``, ``scrypt``, ``ldap``,
    ``md5``, ``sha1``, ``sha256``, ``sha512``, ``hmac``), ``hash`` (``value``, ``encoding``,
    and for ``hmac`` its ``digest`` and ``key``), ``salt`` (``value``, ``encoding``,
    ``position``), ``password.encoding``, and scrypt's ``keylen``, ``cost``, ``blockSize``,
    ``parallelization``. Beyond Auth0, ``{"algorithm": "keycloak", "credential": {…}}``
    takes one element of a Keycloak user's exported ``credentials`` (its ``secretData`` and
    ``credentialData``, as the JSON strings Keycloak writes or as objects).

Anything else is an :class:`~passgate.support.legacy_hashes.UnsupportedHash` naming the
property at fault; the hash itself never appears in a message.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from passgate.support.legacy_hashes import (
    DIGESTS,
    PASSWORD_ENCODINGS,
    UnsupportedHash,
    b64,
    check,
)

__all__ = ["MAX_STORED", "from_custom_hash", "from_password_hash"]

#: The longest stored hash (``users.password_hash``).
MAX_STORED = 256
_PHC_ALGORITHMS = ("argon2", "bcrypt", "pbkdf2", "ldap")
_SALTED = ("md5", "sha1", "sha256", "sha512")
_ALGORITHMS = (*_PHC_ALGORITHMS, *_SALTED, "hmac", "scrypt", "keycloak")
_KEYCLOAK = {"pbkdf2": "sha1", "pbkdf2-sha256": "sha256", "pbkdf2-sha512": "sha512"}


def _stored(value: str, where: str) -> str:
    if len(value) > MAX_STORED:
        raise UnsupportedHash(f"{where}: longer than {MAX_STORED} characters once stored")
    try:
        check(value)
    except UnsupportedHash as exc:
        raise UnsupportedHash(f"{where}: {exc}") from None
    return value


def from_password_hash(value: object) -> str:
    """``password_hash`` as stored, or :class:`UnsupportedHash`."""
    if not isinstance(value, str) or not value:
        raise UnsupportedHash("password_hash: a non-empty string")
    if value.startswith(("$digest-", "$hmac-")):  # passgate's own forms come as objects
        raise UnsupportedHash("password_hash: not a password hash format passgate knows")
    return _stored(value, "password_hash")


def _object(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise UnsupportedHash(f"{where}: an object")
    return value


def _string(
    container: Mapping[str, Any],
    name: str,
    where: str,
    *,
    default: str | None = None,
    choices: tuple[str, ...] | None = None,
) -> str:
    value = container.get(name, default)
    if value is None:
        raise UnsupportedHash(f"{where}.{name}: required")
    if not isinstance(value, str):
        raise UnsupportedHash(f"{where}.{name}: a string")
    if choices is not None and value not in choices:
        raise UnsupportedHash(f"{where}.{name}: one of {', '.join(choices)}")
    return value


def _int(container: Mapping[str, Any], name: str, where: str, default: int) -> int:
    value = container.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:
        raise UnsupportedHash(f"{where}.{name}: a positive integer")
    return value


def _decode(value: str, encoding: str, where: str) -> bytes:
    try:
        if encoding == "hex":
            return bytes.fromhex(value)
        if encoding == "base64":
            return base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
        return value.encode("utf-8")
    except (ValueError, binascii.Error):
        raise UnsupportedHash(f"{where}: not valid {encoding}") from None


def _encoded(part: Mapping[str, Any], where: str, *, default: str) -> bytes:
    encoding = _string(part, "encoding", where, default=default, choices=("base64", "hex", "utf8"))
    return _decode(_string(part, "value", where), encoding, f"{where}.value")


def _salt(custom: Mapping[str, Any]) -> tuple[bytes, str]:
    if "salt" not in custom:
        return b"", "prefix"
    salt = _object(custom["salt"], "custom_password_hash.salt")
    where = "custom_password_hash.salt"
    position = _string(salt, "position", where, default="prefix", choices=("prefix", "suffix"))
    return _encoded(salt, where, default="utf8"), position


def _password_encoding(custom: Mapping[str, Any]) -> str:
    if "password" not in custom:
        return "utf8"
    password = _object(custom["password"], "custom_password_hash.password")
    choices = tuple(PASSWORD_ENCODINGS)
    return _string(
        password, "encoding", "custom_password_hash.password", default="utf8", choices=choices
    )


def from_custom_hash(value: object) -> str:
    """Auth0's ``custom_password_hash`` object as stored, or :class:`UnsupportedHash`."""
    custom = _object(value, "custom_password_hash")
    where = "custom_password_hash"
    algorithm = _string(custom, "algorithm", where)
    if algorithm not in _ALGORITHMS:
        known = ", ".join(_ALGORITHMS)
        raise UnsupportedHash(f"{where}.algorithm: passgate imports {known}")
    if algorithm == "keycloak":
        return _keycloak(_object(custom.get("credential"), f"{where}.credential"))
    hash_part = _object(custom.get("hash"), f"{where}.hash")
    if algorithm in _PHC_ALGORITHMS:
        # The hash's own string (PHC form, modular crypt, RFC 2307): utf8 only.
        _string(hash_part, "encoding", f"{where}.hash", default="utf8", choices=("utf8",))
        text = _string(hash_part, "value", f"{where}.hash")
        expected = {"argon2": "$argon2", "bcrypt": "$2", "pbkdf2": "$pbkdf2", "ldap": "{"}
        if not text.startswith(expected[algorithm]):
            raise UnsupportedHash(f"{where}.hash.value: not a {algorithm} hash")
        return _stored(text, f"{where}.hash.value")
    digest = _encoded(hash_part, f"{where}.hash", default="utf8")
    if algorithm == "scrypt":
        salt, _ = _salt(custom)
        keylen = _int(custom, "keylen", where, 64)
        if keylen != len(digest):
            raise UnsupportedHash(f"{where}.keylen: not the hash's length")
        cost = _int(custom, "cost", where, 16384)
        log2 = cost.bit_length() - 1
        if cost != 2**log2:
            raise UnsupportedHash(f"{where}.cost: a power of two")
        block = _int(custom, "blockSize", where, 8)
        parallel = _int(custom, "parallelization", where, 1)
        stored = f"$scrypt$ln={log2},r={block},p={parallel}${b64(salt)}${b64(digest)}"
        return _stored(stored, where)
    salt, position = _salt(custom)
    options = f"pos={position},pe={_password_encoding(custom)}"
    if algorithm == "hmac":
        name = _string(hash_part, "digest", f"{where}.hash", choices=DIGESTS)
        key = _encoded(
            _object(hash_part.get("key"), f"{where}.hash.key"), f"{where}.hash.key", default="utf8"
        )
        stored = f"$hmac-{name}${options}${b64(key)}${b64(salt)}${b64(digest)}"
        return _stored(stored, where)
    stored = f"$digest-{algorithm}${options}${b64(salt)}${b64(digest)}"
    return _stored(stored, where)


def _json_part(credential: Mapping[str, Any], name: str, where: str) -> Mapping[str, Any]:
    value = credential.get(name)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise UnsupportedHash(f"{where}.{name}: not JSON") from None
    return _object(value, f"{where}.{name}")


def _keycloak(credential: Mapping[str, Any]) -> str:
    where = "custom_password_hash.credential"
    kind = credential.get("type", "password")
    if kind != "password":
        raise UnsupportedHash(f"{where}.type: a password credential")
    secret = _json_part(credential, "secretData", where)
    data = _json_part(credential, "credentialData", where)
    algorithm = _string(data, "algorithm", f"{where}.credentialData", choices=tuple(_KEYCLOAK))
    iterations = _int(data, "hashIterations", f"{where}.credentialData", 27500)
    value = _decode(
        _string(secret, "value", f"{where}.secretData"), "base64", f"{where}.secretData.value"
    )
    salt = _decode(
        _string(secret, "salt", f"{where}.secretData"), "base64", f"{where}.secretData.salt"
    )
    stored = (
        f"$pbkdf2-{_KEYCLOAK[algorithm]}$i={iterations},l={len(value)}${b64(salt)}${b64(value)}"
    )
    return _stored(stored, where)
