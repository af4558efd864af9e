"""argon2id password hashing: hash, verify, rehash, and a decoy for unknown users.

An imported user's hash may be another system's (:mod:`passgate.support.legacy_hashes`):
it is checked by its own algorithm and then, whatever the answer, argon2id checks the decoy
too, so a legacy check never costs less than a native one. Such a hash always needs a
rehash: the first successful login replaces it with passgate's argon2id."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from passgate.support import legacy_hashes

__all__ = ["PasswordHasher"]


class PasswordHasher:
    """argon2id with explicit parameters (OWASP: m=19456 KiB, t=2, p=1 by default)."""

    def __init__(
        self,
        memory_kib: int = 19456,
        time_cost: int = 2,
        parallelism: int = 1,
        *,
        slots: AbstractContextManager[object] | None = None,
        observe: Callable[[str, float], None] | None = None,
    ) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            hash_len=32,
            salt_len=16,
            type=argon2.Type.ID,
        )
        # Verified for identifiers that match no user, so that an unknown user costs the
        # same work as a wrong password.
        self._decoy = self._hasher.hash("passgate decoy password, never matches")
        #: Held around every hash: the machine-wide bound of a multi-worker server.
        self._slots: AbstractContextManager[object] = slots or contextlib.nullcontext()
        #: Told ("verify" or "hash", seconds) of each one, the wait for a slot included.
        self._observe = observe

    def hash(self, password: str) -> str:
        started = time.perf_counter()
        try:
            with self._slots:
                return self._hasher.hash(password)
        finally:
            if self._observe is not None:
                self._observe("hash", time.perf_counter() - started)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """True when ``password`` matches; a missing hash is checked against the decoy."""
        if password_hash is not None and not password_hash.startswith("$argon2"):
            with self._slots:
                matched = legacy_hashes.verify(password_hash, password)
            self.verify(None, password)  # the work of a native check, whatever the answer
            return matched
        started = time.perf_counter()
        try:
            with self._slots:
                self._hasher.verify(password_hash or self._decoy, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        finally:
            if self._observe is not None:
                self._observe("verify", time.perf_counter() - started)
        return password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True
