"""Password hashes made by other systems, kept until their user's first login.

An imported user's hash is stored as a self-describing string (see
:mod:`passgate.support.hash_imports` for how each input format becomes one):

=========================================  =============================================
stored string                              what it checks
=========================================  =============================================
``$2a$…`` ``$2b$…`` ``$2y$…``              bcrypt (Auth0, Devise/Rails, Laravel, PHP)
``bcrypt$$2b$…`` ``bcrypt_sha256$$2b$…``   Django's bcrypt hashers (the second hashes
                                           the password with SHA-256 first)
``pbkdf2_sha256$…`` ``pbkdf2_sha1$…``      Django's PBKDF2 hashers
``argon2$argon2id$…``                      Django's argon2 hasher
``$argon2id$…`` ``$argon2i$…`` …           argon2 in PHC form (checked by argon2-cffi
                                           like passgate's own hashes)
``pbkdf2:sha256:600000$…`` ``scrypt:…``    Werkzeug / Flask
``$pbkdf2-sha256$i=…,l=…$salt$hash``       PBKDF2 in PHC form (Auth0's ``pbkdf2``,
                                           Keycloak's credentials)
``$scrypt$ln=…,r=…,p=…$salt$hash``         scrypt (Auth0's ``scrypt``)
``{SSHA}…`` ``{SHA512}…`` …                LDAP (RFC 2307), salted or not
``$digest-sha256$pos=…,pe=…$salt$hash``    a salted digest (Auth0's ``md5``, ``sha1``,
                                           ``sha256``, ``sha512``)
``$hmac-sha256$pos=…,pe=…$key$salt$hash``  an HMAC (Auth0's ``hmac``)
=========================================  =============================================

``salt`` and ``hash`` of the ``$…$`` forms are standard base64 without padding; ``pos`` is
where the salt goes (``prefix``, ``suffix``), ``pe`` how the password becomes bytes
(``utf8``, ``latin1``, ``utf16le``, ``ascii``).

Costs are capped (:data:`CAPS`) so that one login can never cost more than about a second
of a core: an imported hash over a cap is refused at import, and one that got past (an
older passgate, a hand edit) never verifies. Every comparison is in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable

import argon2
import bcrypt
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from passgate.errors import InvalidValue

__all__ = [
    "CAPS",
    "DIGESTS",
    "PASSWORD_ENCODINGS",
    "UnsupportedHash",
    "b64",
    "check",
    "scheme_of",
    "verify",
]

#: The highest cost a legacy hash may have (a login's worst case; see the README).
CAPS = {
    "bcrypt_cost": 15,
    "pbkdf2_iterations": 2_000_000,
    "scrypt_memory_bytes": 128 * 1024 * 1024,
    "scrypt_parallelism": 16,
    "argon2_memory_kib": 262_144,
    "argon2_time_cost": 16,
    "argon2_parallelism": 16,
}
#: The digests a salted digest, an HMAC or a PBKDF2 hash may use.
DIGESTS = ("md5", "sha1", "sha224", "sha256", "sha384", "sha512")
#: How a password may be turned into bytes before hashing (Auth0's ``password.encoding``).
PASSWORD_ENCODINGS = {
    "utf8": "utf-8",
    "ascii": "ascii",
    "latin1": "latin-1",
    "binary": "latin-1",
    "utf16le": "utf-16-le",
    "ucs2": "utf-16-le",
}
_LDAP = {
    "SHA": "sha1",
    "SSHA": "sha1",
    "MD5": "md5",
    "SMD5": "md5",
    "SHA256": "sha256",
    "SSHA256": "sha256",
    "SHA384": "sha384",
    "SSHA384": "sha384",
    "SHA512": "sha512",
    "SSHA512": "sha512",
}
#: Each digest's size in bytes (asked once: a file of a million imported hashes asks again
#: for each).
_DIGEST_SIZES = {name: hashlib.new(name, usedforsecurity=False).digest_size for name in DIGESTS}
_B64 = r"[A-Za-z0-9+/.]*"
_ALG = "|".join(DIGESTS)
_BCRYPT = re.compile(r"\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}")
_DJANGO_PBKDF2 = re.compile(r"pbkdf2_(sha256|sha1)\$(\d{1,10})\$([^$]{0,128})\$([A-Za-z0-9+/=]+)")
_WERKZEUG_PBKDF2 = re.compile(rf"pbkdf2:({_ALG}):(\d{{1,10}})\$([^$]{{0,128}})\$([0-9a-f]+)")
_WERKZEUG_SCRYPT = re.compile(r"scrypt:(\d{1,10}):(\d{1,4}):(\d{1,4})\$([^$]{0,128})\$([0-9a-f]+)")
_PHC_PBKDF2 = re.compile(
    rf"\$pbkdf2(?:-({_ALG}))?\$i=(\d{{1,10}})(?:,l=(\d{{1,4}}))?\$({_B64})\$({_B64})"
)
_PHC_SCRYPT = re.compile(
    rf"\$scrypt\$ln=(\d{{1,2}}),r=(\d{{1,4}}),p=(\d{{1,4}})\$({_B64})\$({_B64})"
)
_LDAP_FORM = re.compile(r"\{([A-Za-z0-9]+)\}([A-Za-z0-9+/=]+)")
_OPTIONS = r"pos=(prefix|suffix),pe=(" + "|".join(PASSWORD_ENCODINGS) + ")"
_DIGEST = re.compile(rf"\$digest-({_ALG})\${_OPTIONS}\$({_B64})\$({_B64})")
_HMAC = re.compile(rf"\$hmac-({_ALG})\${_OPTIONS}\$({_B64})\$({_B64})\$({_B64})")

Verifier = Callable[[str], bool]


class UnsupportedHash(InvalidValue):
    """A password hash passgate cannot check: an unknown or malformed format, or a cost
    over its cap (:data:`CAPS`)."""


def b64(data: bytes) -> str:
    """Standard base64 without padding (the ``$…$`` forms' encoding)."""
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str, what: str) -> bytes:
    text = text.replace(".", "+")  # passlib's adapted alphabet
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise UnsupportedHash(f"the {what} is not valid base64") from None


def _digest(name: str, data: bytes) -> bytes:
    return hashlib.new(name, data, usedforsecurity=False).digest()


def _encode(password: str, encoding: str) -> bytes | None:
    try:
        return password.encode(PASSWORD_ENCODINGS[encoding])
    except UnicodeEncodeError:
        return None  # a password the old system could not have hashed


def _cap(value: int, cap: str, what: str) -> int:
    if value > CAPS[cap]:
        raise UnsupportedHash(f"{what} {value:,} is over passgate's cap of {CAPS[cap]:,}")
    return value


def _iterations(text: str) -> int:
    value = int(text)
    if value < 1:
        raise UnsupportedHash("the iteration count is zero")
    return _cap(value, "pbkdf2_iterations", "the iteration count")


def _bcrypt(stored: str, prepare: Callable[[bytes], bytes] = lambda pw: pw) -> Verifier:
    match = _BCRYPT.fullmatch(stored)
    if match is None:
        raise UnsupportedHash("a bcrypt hash is $2a$, $2b$ or $2y$, a cost and 53 characters")
    cost = int(match[1])
    if cost < 4:
        raise UnsupportedHash("a bcrypt cost is at least 4")
    _cap(cost, "bcrypt_cost", "the bcrypt cost")
    encoded = ("$2b$" + stored[4:]).encode("ascii")

    def check(password: str) -> bool:
        # bcrypt reads 72 bytes at most (the library refuses longer passwords now).
        return bcrypt.checkpw(prepare(password.encode("utf-8"))[:72], encoded)

    return check


def _sha256_hex(password: bytes) -> bytes:
    return hashlib.sha256(password).hexdigest().encode("ascii")


def _pbkdf2(
    digest: str,
    password_bytes: Callable[[str], bytes],
    iterations: int,
    salt: bytes,
    expected: bytes,
) -> Verifier:
    if not expected:
        raise UnsupportedHash("the hash is empty")

    def check(password: str) -> bool:
        derived = hashlib.pbkdf2_hmac(
            digest, password_bytes(password), salt, iterations, dklen=len(expected)
        )
        return hmac.compare_digest(derived, expected)

    return check


def _utf8(password: str) -> bytes:
    return password.encode("utf-8")


def _scrypt(n: int, r: int, p: int, salt: bytes, expected: bytes) -> Verifier:
    if n < 2 or n & (n - 1) or r < 1 or p < 1:
        raise UnsupportedHash("scrypt's N is a power of two over 1, r and p at least 1")
    _cap(p, "scrypt_parallelism", "scrypt's parallelism")
    memory = 128 * n * r + 128 * r * p
    _cap(memory, "scrypt_memory_bytes", "scrypt's memory (bytes)")
    if not expected:
        raise UnsupportedHash("the hash is empty")

    def check(password: str) -> bool:
        derived = hashlib.scrypt(
            password.encode("utf-8"),
            salt=salt,
            n=n,
            r=r,
            p=p,
            maxmem=memory + 1024 * 1024,
            dklen=len(expected),
        )
        return hmac.compare_digest(derived, expected)

    return check


def _argon2(phc: str) -> Verifier:
    try:
        parameters = argon2.extract_parameters(phc)
    except (InvalidHashError, ValueError):
        raise UnsupportedHash("an argon2 hash in PHC form ($argon2id$v=19$m=…)") from None
    _cap(parameters.memory_cost, "argon2_memory_kib", "argon2's memory (KiB)")
    _cap(parameters.time_cost, "argon2_time_cost", "argon2's time cost")
    _cap(parameters.parallelism, "argon2_parallelism", "argon2's parallelism")
    checker = argon2.PasswordHasher()

    def check(password: str) -> bool:
        try:
            return checker.verify(phc, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    return check


def _salted(pos: str, salt: bytes, password: bytes) -> bytes:
    return salt + password if pos == "prefix" else password + salt


def _parse(stored: str) -> Verifier:
    if stored.startswith("$2"):
        return _bcrypt(stored)
    if stored.startswith("bcrypt_sha256$"):
        return _bcrypt(stored.removeprefix("bcrypt_sha256$"), _sha256_hex)
    if stored.startswith("bcrypt$"):
        return _bcrypt(stored.removeprefix("bcrypt$"))
    if stored.startswith("argon2$"):
        return _argon2(stored.removeprefix("argon2"))
    if stored.startswith("$argon2"):
        return _argon2(stored)
    if stored.startswith("pbkdf2_"):
        if (match := _DJANGO_PBKDF2.fullmatch(stored)) is None:
            raise UnsupportedHash("Django's form is pbkdf2_sha256$ITERATIONS$SALT$BASE64")
        expected = _unb64(match[4].rstrip("="), "hash")
        return _pbkdf2(match[1], _utf8, _iterations(match[2]), match[3].encode(), expected)
    if stored.startswith("pbkdf2:"):
        if (match := _WERKZEUG_PBKDF2.fullmatch(stored)) is None:
            raise UnsupportedHash("Werkzeug's form is pbkdf2:sha256:ITERATIONS$SALT$HEX")
        expected = bytes.fromhex(match[4]) if len(match[4]) % 2 == 0 else b""
        return _pbkdf2(match[1], _utf8, _iterations(match[2]), match[3].encode(), expected)
    if stored.startswith("scrypt:"):
        if (match := _WERKZEUG_SCRYPT.fullmatch(stored)) is None:
            raise UnsupportedHash("Werkzeug's form is scrypt:N:R:P$SALT$HEX")
        expected = bytes.fromhex(match[5]) if len(match[5]) % 2 == 0 else b""
        n, r, p = int(match[1]), int(match[2]), int(match[3])
        return _scrypt(n, r, p, match[4].encode(), expected)
    if stored.startswith("$pbkdf2"):
        if (match := _PHC_PBKDF2.fullmatch(stored)) is None:
            raise UnsupportedHash("PBKDF2's PHC form is $pbkdf2-sha256$i=N,l=LENGTH$SALT$HASH")
        expected = _unb64(match[5], "hash")
        if match[3] is not None and int(match[3]) != len(expected):
            raise UnsupportedHash("the key length l= is not the hash's length")
        salt = _unb64(match[4], "salt")
        return _pbkdf2(match[1] or "sha1", _utf8, _iterations(match[2]), salt, expected)
    if stored.startswith("$scrypt$"):
        if (match := _PHC_SCRYPT.fullmatch(stored)) is None:
            raise UnsupportedHash("scrypt's form is $scrypt$ln=LOG2N,r=R,p=P$SALT$HASH")
        n = 2 ** min(int(match[1]), 40)
        salt, expected = _unb64(match[4], "salt"), _unb64(match[5], "hash")
        return _scrypt(n, int(match[2]), int(match[3]), salt, expected)
    if stored.startswith("{"):
        return _ldap(stored)
    if stored.startswith("$digest-"):
        return _salted_digest(stored)
    if stored.startswith("$hmac-"):
        return _hmac(stored)
    raise UnsupportedHash("not a password hash format passgate knows")


def _ldap(stored: str) -> Verifier:
    match = _LDAP_FORM.fullmatch(stored)
    scheme = match[1].upper() if match else ""
    if match is None or scheme not in _LDAP:
        raise UnsupportedHash(
            "an LDAP hash is {SHA}, {SSHA}, {MD5}, {SMD5}, {SSHA256} or {SSHA512} … and base64"
        )
    name = _LDAP[scheme]
    decoded = _unb64(match[2].rstrip("="), "hash")
    size = _DIGEST_SIZES[name]
    salted = scheme in ("SSHA", "SMD5", "SSHA256", "SSHA384", "SSHA512")
    if len(decoded) < size or (not salted and len(decoded) != size):
        raise UnsupportedHash(f"the {scheme} hash has the wrong length")
    expected, salt = decoded[:size], decoded[size:]

    def check(password: str) -> bool:
        return hmac.compare_digest(_digest(name, password.encode("utf-8") + salt), expected)

    return check


def _salted_digest(stored: str) -> Verifier:
    match = _DIGEST.fullmatch(stored)
    if match is None:
        raise UnsupportedHash("malformed salted digest")
    name, pos, encoding = match[1], match[2], match[3]
    salt, expected = _unb64(match[4], "salt"), _unb64(match[5], "hash")
    if len(expected) != _DIGEST_SIZES[name]:
        raise UnsupportedHash(f"a {name} hash has {_DIGEST_SIZES[name]} bytes")

    def check(password: str) -> bool:
        encoded = _encode(password, encoding)
        if encoded is None:
            return False
        return hmac.compare_digest(_digest(name, _salted(pos, salt, encoded)), expected)

    return check


def _hmac(stored: str) -> Verifier:
    match = _HMAC.fullmatch(stored)
    if match is None:
        raise UnsupportedHash("malformed HMAC hash")
    name, pos, encoding = match[1], match[2], match[3]
    key, salt = _unb64(match[4], "key"), _unb64(match[5], "salt")
    expected = _unb64(match[6], "hash")
    if len(expected) != _DIGEST_SIZES[name]:
        raise UnsupportedHash(f"an HMAC-{name} has {_DIGEST_SIZES[name]} bytes")

    def check(password: str) -> bool:
        encoded = _encode(password, encoding)
        if encoded is None:
            return False
        mac = hmac.new(key, _salted(pos, salt, encoded), name).digest()
        return hmac.compare_digest(mac, expected)

    return check


def check(stored: str) -> None:
    """Raise :class:`UnsupportedHash` unless ``stored`` is a hash :func:`verify` can check
    within the caps."""
    _parse(stored)


def scheme_of(stored: str) -> str:
    """A short name of ``stored``'s format, for counts and events (never the hash)."""
    for prefix, name in (
        ("$2", "bcrypt"),
        ("bcrypt_sha256$", "django-bcrypt-sha256"),
        ("bcrypt$", "django-bcrypt"),
        ("argon2$", "django-argon2"),
        ("$argon2", "argon2"),
        ("pbkdf2_", "django-pbkdf2"),
        ("pbkdf2:", "werkzeug-pbkdf2"),
        ("scrypt:", "werkzeug-scrypt"),
        ("$pbkdf2", "pbkdf2"),
        ("$scrypt$", "scrypt"),
        ("{", "ldap"),
        ("$digest-", "digest"),
        ("$hmac-", "hmac"),
    ):
        if stored.startswith(prefix):
            return name
    return "unknown"


def verify(stored: str, password: str) -> bool:
    """True when ``password`` matches the legacy hash ``stored``; False for a mismatch and
    for a hash that cannot be checked (never an exception for a bad stored value)."""
    try:
        checker = _parse(stored)
        return checker(password)
    except (UnsupportedHash, ValueError, OverflowError, MemoryError):
        return False
