"""Users with their password hashed the way each system passgate imports from does it.

Each entry is made here with the libraries' primitives (hashlib, bcrypt, argon2-cffi), in
the exact string or object form the system exports, so the tests check passgate against
the formats and not against itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import argon2
import bcrypt

__all__ = ["FORMATS", "user_for"]

SALT = b"NaCl-0123456789!"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _phc(data: bytes) -> str:
    return _b64(data).rstrip("=")


def _bcrypt(password: str, prefix: str = "$2b$") -> str:
    made = bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()
    return prefix + made[4:]


def _django_pbkdf2(password: str, digest: str) -> str:
    salt = "djangoSaltValue1"
    derived = hashlib.pbkdf2_hmac(digest, password.encode(), salt.encode(), 1000)
    return f"pbkdf2_{digest}$1000${salt}${_b64(derived)}"


def _argon2(password: str, kind: argon2.Type) -> str:
    return argon2.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=2, type=kind).hash(
        password
    )


def _werkzeug_pbkdf2(password: str) -> str:
    salt = "werkzeugSalt1234"
    derived = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 1000)
    return f"pbkdf2:sha256:1000${salt}${derived.hex()}"


def _werkzeug_scrypt(password: str) -> str:
    salt = "werkzeugSalt5678"
    derived = hashlib.scrypt(password.encode(), salt=salt.encode(), n=1024, r=8, p=1, dklen=64)
    return f"scrypt:1024:8:1${salt}${derived.hex()}"


def _keycloak(password: str, algorithm: str, digest: str, as_text: bool) -> dict[str, Any]:
    size = {"sha256": 32, "sha512": 64}[digest]
    value = hashlib.pbkdf2_hmac(digest, password.encode(), SALT, 1000, dklen=size)
    secret = {"value": _b64(value), "salt": _b64(SALT), "additionalParameters": {}}
    data = {"hashIterations": 1000, "algorithm": algorithm, "additionalParameters": {}}
    credential: dict[str, Any] = {
        "type": "password",
        "createdDate": 1700000000000,
        "secretData": json.dumps(secret) if as_text else secret,
        "credentialData": json.dumps(data) if as_text else data,
    }
    return {"algorithm": "keycloak", "credential": credential}


def _salted(
    password: str,
    digest: str,
    position: str,
    encoding: str = "hex",
    password_encoding: str = "utf8",
    salt_encoding: str = "utf8",
) -> dict[str, Any]:
    codec = {"utf8": "utf-8", "utf16le": "utf-16-le", "latin1": "latin-1"}[password_encoding]
    salt = b"pepper&salt"
    data = salt + password.encode(codec) if position == "prefix" else password.encode(codec) + salt
    raw = hashlib.new(digest, data).digest()
    salt_value = {"utf8": salt.decode(), "base64": _b64(salt), "hex": salt.hex()}[salt_encoding]
    return {
        "algorithm": digest,
        "hash": {"value": raw.hex() if encoding == "hex" else _b64(raw), "encoding": encoding},
        "salt": {"value": salt_value, "encoding": salt_encoding, "position": position},
        "password": {"encoding": password_encoding},
    }


def _hmac(password: str) -> dict[str, Any]:
    key = b"server-side key"
    raw = hmac.new(key, password.encode(), "sha256").digest()
    return {
        "algorithm": "hmac",
        "hash": {
            "value": _b64(raw),
            "encoding": "base64",
            "digest": "sha256",
            "key": {"value": _b64(key), "encoding": "base64"},
        },
    }


def _ldap(password: str, scheme: str, digest: str, salted: bool) -> str:
    salt = SALT[:8] if salted else b""
    return "{" + scheme + "}" + _b64(hashlib.new(digest, password.encode() + salt).digest() + salt)


def _pbkdf2_phc(password: str) -> str:
    derived = hashlib.pbkdf2_hmac("sha512", password.encode(), SALT, 1000)
    return f"$pbkdf2-sha512$i=1000,l=64${_phc(SALT)}${_phc(derived)}"


def _scrypt(password: str) -> dict[str, Any]:
    derived = hashlib.scrypt(password.encode(), salt=SALT, n=1024, r=8, p=1, dklen=32)
    return {
        "algorithm": "scrypt",
        "hash": {"value": _b64(derived), "encoding": "base64"},
        "salt": {"value": _b64(SALT), "encoding": "base64"},
        "keylen": 32,
        "cost": 1024,
    }


def _custom(algorithm: str, value: str) -> dict[str, Any]:
    return {"algorithm": algorithm, "hash": {"value": value, "encoding": "utf8"}}


#: name -> (property, a function of the password giving its value)
FORMATS: dict[str, tuple[str, Any]] = {
    "auth0-bcrypt": ("password_hash", lambda pw: _bcrypt(pw, "$2b$")),
    "devise-bcrypt-2a": ("password_hash", lambda pw: _bcrypt(pw, "$2a$")),
    "laravel-bcrypt-2y": ("password_hash", lambda pw: _bcrypt(pw, "$2y$")),
    "django-pbkdf2-sha256": ("password_hash", lambda pw: _django_pbkdf2(pw, "sha256")),
    "django-pbkdf2-sha1": ("password_hash", lambda pw: _django_pbkdf2(pw, "sha1")),
    "django-argon2": ("password_hash", lambda pw: "argon2" + _argon2(pw, argon2.Type.ID)),
    "django-bcrypt-sha256": (
        "password_hash",
        lambda pw: "bcrypt_sha256$" + _bcrypt(hashlib.sha256(pw.encode()).hexdigest()),
    ),
    "django-bcrypt": ("password_hash", lambda pw: "bcrypt$" + _bcrypt(pw)),
    "werkzeug-pbkdf2": ("password_hash", _werkzeug_pbkdf2),
    "werkzeug-scrypt": ("password_hash", _werkzeug_scrypt),
    "argon2i-phc": ("password_hash", lambda pw: _argon2(pw, argon2.Type.I)),
    "ldap-ssha-text": ("password_hash", lambda pw: _ldap(pw, "SSHA", "sha1", True)),
    "keycloak-pbkdf2-sha256": (
        "custom_password_hash",
        lambda pw: _keycloak(pw, "pbkdf2-sha256", "sha256", as_text=True),
    ),
    "keycloak-pbkdf2-sha512": (
        "custom_password_hash",
        lambda pw: _keycloak(pw, "pbkdf2-sha512", "sha512", as_text=False),
    ),
    "custom-argon2": (
        "custom_password_hash",
        lambda pw: _custom("argon2", _argon2(pw, argon2.Type.D)),
    ),
    "custom-bcrypt": ("custom_password_hash", lambda pw: _custom("bcrypt", _bcrypt(pw))),
    "custom-pbkdf2": ("custom_password_hash", lambda pw: _custom("pbkdf2", _pbkdf2_phc(pw))),
    "custom-ldap-ssha512": (
        "custom_password_hash",
        lambda pw: _custom("ldap", _ldap(pw, "SSHA512", "sha512", True)),
    ),
    "custom-ldap-sha": (
        "custom_password_hash",
        lambda pw: _custom("ldap", _ldap(pw, "SHA", "sha1", False)),
    ),
    "custom-md5-suffix-hex": ("custom_password_hash", lambda pw: _salted(pw, "md5", "suffix")),
    "custom-sha1-utf16le": (
        "custom_password_hash",
        lambda pw: _salted(pw, "sha1", "prefix", "base64", "utf16le", "base64"),
    ),
    "custom-sha256-prefix": ("custom_password_hash", lambda pw: _salted(pw, "sha256", "prefix")),
    "custom-sha512-hex-salt": (
        "custom_password_hash",
        lambda pw: _salted(pw, "sha512", "suffix", "base64", "latin1", "hex"),
    ),
    "custom-hmac-sha256": ("custom_password_hash", _hmac),
    "custom-scrypt": ("custom_password_hash", _scrypt),
}


def user_for(name: str, password: str, **extra: Any) -> dict[str, Any]:
    """A bulk-import user whose password ``password`` is hashed in format ``name``."""
    prop, make = FORMATS[name]
    return {"email": f"{name}@import.example", prop: make(password), **extra}
