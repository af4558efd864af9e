"""Brute-force protection: what is counted, and when a key is blocked.

Failed logins are counted per *key*: (connection, identifier, IP) in the default
``count_per_identifier_and_ip`` mode, (connection, identifier) in ``count_per_identifier``.
The failure that reaches ``max_attempts`` starts a block (event ``limit_wc``); a block lasts
while ``failures >= max_attempts`` *with the current threshold* and less than 30 days have
passed since the last failure, so raising the threshold lifts blocks at once.

The login path, with ``counters`` a :class:`~passgate.storage.counters.LoginAttempts`::

    mode = protection_mode(policy, ip)
    key = attempt_key(policy.mode, connection, identifier, ip)
    if mode is BruteForceMode.ENFORCE:
        reservation = counters.reserve_attempt(key, max_attempts=policy.max_attempts, now=now)
        if not reservation.allowed:
            raise TooManyAttempts()            # blocked, or the last attempts are in flight
    ... verify the password ...
    if mode is not BruteForceMode.OFF:
        on success: counters.record_success(key, now=now)
        on failure:
            failures = counters.record_failure(
                key, now=now, release=mode is BruteForceMode.ENFORCE)
            outcome = failure_outcome(failures, policy)   # limit_wc? notify the user?
        on an internal error (ENFORCE): counters.release(key, now=now)

Every function here is pure: state, ``now`` and policy in, decision out.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING
from urllib.parse import quote

from passgate.protection.client_ip import normalise_ip
from passgate.storage.counters import BLOCK_SECONDS, AttemptKey, BlockRecord

if TYPE_CHECKING:
    from passgate.protection.policy import BruteForcePolicy

__all__ = [
    "BLOCK_SECONDS",
    "PER_IDENTIFIER",
    "PER_IDENTIFIER_AND_IP",
    "BlockState",
    "BruteForceMode",
    "FailureOutcome",
    "attempt_key",
    "block_ends_at",
    "effective_failures",
    "failure_outcome",
    "is_blocked",
    "normalise_identifier",
    "protection_mode",
    "visible_blocks",
]

PER_IDENTIFIER_AND_IP = "count_per_identifier_and_ip"
PER_IDENTIFIER = "count_per_identifier"


def normalise_identifier(identifier: str) -> str:
    """The form identifiers are counted under: surrounding spaces removed, lower case.

    ``Alice@Example.com`` and ``alice@example.com `` are one account to an attacker, so
    they are one counter. Use it for Management API queries too.
    """
    return identifier.strip().lower()


@functools.lru_cache(maxsize=65536)
@functools.lru_cache(maxsize=65536)
def _part(text: str) -> str:
    # ':' separates the parts and '%' escapes: a username may contain either, and an
    # IPv6 address contains ':', so "u" + "1:2::3" must not meet "u:1" + "2::3".
    return quote(text, safe="@.+-_~!$&'()*,;=/ ")


def attempt_key(mode: str, connection: str, identifier: str, ip: str) -> AttemptKey:
    """The counter key for a login attempt under the policy's ``mode``."""
    ident = normalise_identifier(identifier)
    if mode == PER_IDENTIFIER_AND_IP:
        address = normalise_ip(ip)
        key = f"{mode}:{_part(connection)}:{_part(ident)}:{address}"
        return AttemptKey(key=key, identifier=ident, ip=address, connection=connection)
    if mode == PER_IDENTIFIER:
        key = f"{mode}:{_part(connection)}:{_part(ident)}"
        return AttemptKey(key=key, identifier=ident, ip=None, connection=connection)
    raise ValueError(f"unknown brute-force mode {mode!r}")


@dataclass(frozen=True, slots=True)
class BlockState:
    """A key's stored counter."""

    failures: int = 0
    last_failure: float = 0.0

    def counted(self, now: float) -> int:
        return effective_failures(self.failures, self.last_failure, now)

    def blocked(self, now: float, max_attempts: int) -> bool:
        return is_blocked(self.failures, self.last_failure, now, max_attempts)


def effective_failures(failures: int, last_failure: float, now: float) -> int:
    """Failures still counted at ``now``: all of them until 30 days after the last one."""
    return failures if now < last_failure + BLOCK_SECONDS else 0


def is_blocked(failures: int, last_failure: float, now: float, max_attempts: int) -> bool:
    """Blocked while failures reach the *current* threshold, for 30 days after the last."""
    return effective_failures(failures, last_failure, now) >= max_attempts


def block_ends_at(last_failure: float) -> float:
    return last_failure + BLOCK_SECONDS


class BruteForceMode(Enum):
    #: Protection disabled, or the IP is allowlisted: nothing counted, nothing blocked.
    OFF = "off"
    #: No ``block`` shield: failures are counted and ``limit_wc`` logged, never refused.
    MONITOR = "monitor"
    #: Reserve an attempt before verifying; refuse with 429 when that is not possible.
    ENFORCE = "enforce"


def protection_mode(policy: BruteForcePolicy, ip: str) -> BruteForceMode:
    """What brute-force protection does for a login from ``ip`` (the end user's IP)."""
    if not policy.enabled or policy.ip_allowlist.contains(ip):
        return BruteForceMode.OFF
    if "block" not in policy.shields:
        return BruteForceMode.MONITOR
    return BruteForceMode.ENFORCE


@dataclass(frozen=True, slots=True)
class FailureOutcome:
    #: This failure reached the threshold: log ``limit_wc`` (also in monitoring mode).
    starts_block: bool
    #: Refuse further attempts for the key (the ``block`` shield is on).
    blocks: bool
    #: Email the user an unblock link (``user_notification``, only when blocking); the
    #: caller limits it to one per hour per IP with ``counters.once``.
    notify_user: bool


def failure_outcome(failures_after: int, policy: BruteForcePolicy) -> FailureOutcome:
    """Consequences of a failure that left ``failures_after`` counted for its key."""
    starts = failures_after == policy.max_attempts
    blocking = "block" in policy.shields
    return FailureOutcome(
        starts_block=starts,
        blocks=starts and blocking,
        notify_user=starts and blocking and "user_notification" in policy.shields,
    )


def visible_blocks(records: Iterable[BlockRecord], policy: BruteForcePolicy) -> list[BlockRecord]:
    """Blocks as the Management API shows them: the current mode's keys, allowlisted IPs
    left out (they are never blocked)."""
    per_ip = policy.mode == PER_IDENTIFIER_AND_IP
    return [
        record
        for record in records
        if (record.ip is not None) == per_ip
        and (record.ip is None or not policy.ip_allowlist.contains(record.ip))
    ]
