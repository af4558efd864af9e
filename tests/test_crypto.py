"""The keyed digest that stores client secrets, refresh tokens and link tokens."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passgate.support.crypto import constant_time_equal, keyed_digest


def reference(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


@pytest.mark.parametrize("key_length", [0, 1, 32, 63, 64, 65, 200])
def test_the_digest_is_hmac_sha256_for_keys_of_any_length(key_length: int) -> None:
    key = bytes(range(key_length % 256)) + b"k" * max(0, key_length - 256)
    for value in ("", "secret", "ü-ñ-☃", "\ud800 lone surrogate", "x" * 5000):
        assert keyed_digest(key, value) == reference(key, value)


@given(key=st.binary(max_size=150), value=st.text())
def test_the_digest_matches_the_standard_library(key: bytes, value: str) -> None:
    assert keyed_digest(key, value) == reference(key, value)


def test_each_call_starts_from_the_key_alone() -> None:
    key = b"0123456789abcdef" * 2
    first = keyed_digest(key, "one")
    keyed_digest(key, "two")
    assert keyed_digest(key, "one") == first
    assert keyed_digest(b"another key", "one") != first


def test_constant_time_equal_compares_text() -> None:
    assert constant_time_equal("abc", "abc")
    assert not constant_time_equal("abc", "abd")
    assert not constant_time_equal("abc", "ab")
