"""Attack-protection counters: the storage protocols and the types they share.

Two backends implement :class:`AttackCounters`:

* :class:`passgate.storage.counters_sql.SqlCounters` (SQLite in WAL mode, several worker
  processes; PostgreSQL), and
* :class:`passgate.storage.counters_redis.RedisCounters` (one Lua script per operation),
  shared by every instance.

Every operation that changes a counter protecting an account is *one* atomic operation in
its backend (one SQL statement or one Lua script). The rules those operations apply are the
pure functions of :mod:`passgate.domain.brute_force` and
:mod:`passgate.domain.ip_throttle`; the contract tests check that each backend agrees
with them. Times are floats of seconds since the Unix epoch, always passed in by the caller
(``now``): no backend reads a clock.

Attempt counters
    One row/hash per :class:`AttemptKey`: consecutive ``failures``, the time of the
    ``last_failure`` and the number of attempts ``reserved`` (password verifications in
    flight). Failures older than :data:`BLOCK_SECONDS` are forgotten. A reservation lives
    until ``reserved_until``: every grant moves it to ``now + hold_s``, so an attempt whose
    process died holds its slot for at most ``hold_s`` after the key's last reservation.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Protocol

from passgate.domain.attempts import (
    BLOCK_SECONDS,
    DEFAULT_HOLD_SECONDS,
    GCRA_TOLERANCE_S,
    AttemptKey,
    BlockRecord,
    Reservation,
)

if TYPE_CHECKING:
    pass

__all__ = [
    "BLOCK_SECONDS",
    "DEFAULT_HOLD_SECONDS",
    "GCRA_TOLERANCE_S",
    "AttackCounters",
    "AttemptKey",
    "BlockAdmin",
    "BlockRecord",
    "IpBuckets",
    "LoginAttempts",
    "Maintenance",
    "OnceMarks",
    "Reservation",
]


class LoginAttempts(Protocol):
    """What the password grant needs: reserve, then record the outcome."""

    def reserve_attempt(
        self,
        key: AttemptKey,
        *,
        max_attempts: int,
        now: float,
        hold_s: float = DEFAULT_HOLD_SECONDS,
    ) -> Reservation:
        """Atomically: allowed iff ``failures + live reservations < max_attempts``; if so,
        reserve one more attempt. At most ``max_attempts`` verifications for a key, ever."""
        ...

    def record_failure(self, key: AttemptKey, *, now: float, release: bool = True) -> int:
        """Count one failure (releasing one reservation unless ``release=False``) and
        return the failures after it."""
        ...

    def record_success(self, key: AttemptKey, *, now: float) -> None:
        """Reset the key's failures and release one reservation."""
        ...

    def release(self, key: AttemptKey, *, now: float) -> None:
        """Release one reservation without an outcome (e.g. an internal error)."""
        ...

    def failures(self, key: AttemptKey, *, now: float) -> int:
        """Consecutive failures still counted at ``now`` (0 once 30 days have passed)."""
        ...


class BlockAdmin(Protocol):
    """What the Management API (user blocks), unblock links and password change need.

    Keys are found by ``subject`` (``AttemptKey.subject``; see
    ``passgate.domain.identifiers.counter_subject``): the subjects of an identifier are its
    account's and its canonical form's, in each connection.
    """

    def list_blocks(
        self,
        subjects: Collection[str] | None,
        *,
        max_attempts: int,
        now: float,
        per_ip: bool | None = None,
    ) -> list[BlockRecord]:
        """Keys blocked at ``now`` (failures >= max_attempts, last failure < 30 days ago),
        of these subjects or all; ``per_ip`` keeps only one mode's keys (True: keys with
        an IP; False: per-identifier keys). Sorted by identifier, connection, ip."""
        ...

    def remove_blocks(
        self, subjects: Collection[str], ip: str | None = None, *, connection: str | None = None
    ) -> int:
        """Reset the failures of the subjects' keys (those of one IP / connection when
        given); return how many keys had failures."""
        ...


class IpBuckets(Protocol):
    """Suspicious-IP token buckets, one GCRA ``tat`` per (ip, stage)."""

    def take_token(self, ip: str, stage: str, *, capacity: int, rate_s: float, now: float) -> bool:
        """Consume one token; False (and nothing changes) when the bucket is empty."""
        ...

    def has_token(
        self, ip: str, stage: str, *, capacity: int, rate_s: float, now: float
    ) -> bool: ...

    def refill(self, ip: str) -> bool:
        """Fill every bucket of the IP (forget them); True if the IP had any stored."""
        ...

    def bucket_tat(self, ip: str, stage: str) -> float | None:
        """The stored theoretical arrival time, ``None`` for a full, untouched bucket."""
        ...

    def bucket_tats(self, ip: str, stages: Sequence[str]) -> dict[str, float | None]:
        """``bucket_tat`` of several stages of one IP in one read."""
        ...


class OnceMarks(Protocol):
    def once(self, key: str, *, ttl_s: float, now: float) -> bool:
        """True the first time in each ``ttl_s`` window (e.g. one notification per hour)."""
        ...


class Maintenance(Protocol):
    def purge(self, now: float) -> int:
        """Delete what no longer holds state at ``now`` (forgotten failures without a live
        reservation, full buckets, expired marks) and return how many records went. Safe
        at any time: no answer of the other methods changes."""
        ...


class AttackCounters(LoginAttempts, BlockAdmin, IpBuckets, OnceMarks, Maintenance, Protocol):
    """Everything a counters backend provides."""
