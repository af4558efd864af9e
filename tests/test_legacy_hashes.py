"""Imported hash formats: what is refused at import (malformed, unknown, over a cost cap),
and that checking a stored value never raises, whatever it holds."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passgate.support.hash_imports import MAX_STORED, from_custom_hash, from_password_hash
from passgate.support.legacy_hashes import CAPS, UnsupportedHash, check, scheme_of, verify
from tests.import_hashes import FORMATS, user_for

PASSWORD = "Grüße 123"


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_each_format_verifies_its_password_only(name: str) -> None:
    row = user_for(name, PASSWORD)
    stored = (
        from_password_hash(row["password_hash"])
        if "password_hash" in row
        else from_custom_hash(row["custom_password_hash"])
    )
    assert len(stored) <= MAX_STORED
    assert scheme_of(stored) != "unknown"
    assert verify(stored, PASSWORD)
    assert not verify(stored, PASSWORD + " ")
    assert not verify(stored, PASSWORD.upper())
    assert not verify(stored, "")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "plaintext",
        "md5$salt$hash",  # Django's unsalted MD5: not imported
        "$1$salt$hash",  # md5-crypt
        "$2b$04$short",
        "$2b$03$" + "a" * 53,  # cost under 4
        f"$2b${CAPS['bcrypt_cost'] + 1}$" + "a" * 53,
        "pbkdf2_sha256$0$salt$aGFzaA==",
        f"pbkdf2_sha256${CAPS['pbkdf2_iterations'] + 1}$salt$aGFzaA==",
        "pbkdf2_sha256$1000$salt$not base64!",
        "pbkdf2:sha256:1000$salt$xyz",
        "pbkdf2:md4:1000$salt$abcd",
        "scrypt:1000:8:1$salt$abcd",  # N not a power of two
        "scrypt:1048576:64:1$salt$abcd",  # over the memory cap
        "$argon2id$v=19$m=9999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
        "$argon2id$garbage",
        "{CRYPT}abc",
        "{SSHA}!!!",
        "{SHA}YQ==",  # wrong length
        "$digest-sha256$pos=prefix,pe=utf8$c2FsdA$aGFzaA",  # only as custom_password_hash
        "$pbkdf2-sha256$i=1000,l=99$c2FsdA$aGFzaA",
        "x" * 10_000,
    ],
)
def test_malformed_unknown_or_too_costly_password_hashes_are_refused(value: str) -> None:
    with pytest.raises(UnsupportedHash) as refused:
        from_password_hash(value)
    assert value not in str(refused.value) or len(value) < 3


@pytest.mark.parametrize(
    "custom",
    [
        None,
        [],
        {},
        {"algorithm": "md4", "hash": {"value": "00"}},
        {"algorithm": "sha256"},
        {"algorithm": "sha256", "hash": {"value": "zz", "encoding": "hex"}},
        {"algorithm": "sha256", "hash": {"value": "ab" * 32, "encoding": "rot13"}},
        {"algorithm": "sha256", "hash": {"value": "ab" * 31, "encoding": "hex"}},
        {"algorithm": "sha256", "hash": {"value": "ab" * 32, "encoding": "hex"},
         "salt": {"value": "s", "position": "middle"}},
        {"algorithm": "sha1", "hash": {"value": "ab" * 20, "encoding": "hex"},
         "password": {"encoding": "ebcdic"}},
        {"algorithm": "hmac", "hash": {"value": "ab" * 32, "encoding": "hex"}},
        {"algorithm": "hmac", "hash": {"value": "ab" * 32, "encoding": "hex", "digest": "sha256"}},
        {"algorithm": "bcrypt", "hash": {"value": "{SSHA}abc"}},
        {"algorithm": "argon2", "hash": {"value": "$argon2id$v=19$m=1,t=1,p=1$x$y",
                                          "encoding": "base64"}},
        {"algorithm": "scrypt", "hash": {"value": "ab" * 64, "encoding": "hex"}, "cost": 1000},
        {"algorithm": "scrypt", "hash": {"value": "ab" * 64, "encoding": "hex"}, "cost": True},
        {"algorithm": "scrypt", "hash": {"value": "ab" * 64, "encoding": "hex"}, "keylen": 2**40},
        {"algorithm": "keycloak"},
        {"algorithm": "keycloak", "credential": {"type": "otp"}},
        {"algorithm": "keycloak", "credential": {"secretData": "{", "credentialData": "{}"}},
        {"algorithm": "keycloak", "credential": {
            "secretData": {"value": "aGFzaA==", "salt": "c2FsdA=="},
            "credentialData": {"algorithm": "pbkdf2-sha256",
                               "hashIterations": CAPS["pbkdf2_iterations"] + 1}}},
        {"algorithm": "keycloak", "credential": {
            "secretData": {"value": "aGFzaA==", "salt": "c2FsdA=="},
            "credentialData": {"algorithm": "argon2", "hashIterations": 1}}},
    ],
)  # fmt: skip
def test_malformed_custom_password_hashes_are_refused(custom: Any) -> None:
    with pytest.raises(UnsupportedHash):
        from_custom_hash(custom)


@given(st.text(max_size=300))
def test_checking_any_stored_value_never_raises(stored: str) -> None:
    assert verify(stored, "password") in (True, False)


@given(st.text(max_size=300))
def test_any_password_hash_string_is_accepted_or_refused_cleanly(value: str) -> None:
    try:
        stored = from_password_hash(value)
    except UnsupportedHash:
        return
    check(stored)
