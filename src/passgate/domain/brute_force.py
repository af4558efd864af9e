"""Brute-force protection: what is counted, and when a key is blocked.

Failed logins are counted per *key*: (account, IP) in the default
``count_per_identifier_and_ip`` mode, the account alone in ``count_per_identifier``. An
identifier that matches no account counts in the account's place under its canonical form
(``passgate.domain.identifiers``), answered exactly like an account's.
The failure that reaches ``max_attempts`` starts a block (event ``limit_wc``); a block lasts
while ``failures >= max_attempts`` *with the current threshold* and less than 30 days have
passed since the last failure, so raising the threshold lifts blocks at once.

The login path, with ``counters`` a :class:`~passgate.storage.counters.LoginAttempts`::

    mode = protection_mode(policy, ip)
    key = attempt_key(policy.mode, connection, identifier, ip, user_id=user.id if user else None)
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

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from passgate.domain.attempts import BLOCK_SECONDS, AttemptKey, BlockRecord
from passgate.domain.client_ip import normalise_ip
from passgate.domain.identifiers import canonical_identifier, counter_subject, label

if TYPE_CHECKING:
    from passgate.domain.policy import BruteForcePolicy

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
    "protection_mode",
    "visible_blocks",
]

PER_IDENTIFIER_AND_IP = "count_per_identifier_and_ip"
PER_IDENTIFIER = "count_per_identifier"


def attempt_key(
    mode: str,
    connection: str,
    identifier: str,
    ip: str,
    *,
    user_id: str | None = None,
    shown_as: str | None = None,
) -> AttemptKey:
    """The counter key for a login attempt under the policy's ``mode``.

    An identifier that resolves to an account (``user_id``) counts against the account,
    so every identifier and spelling of one account shares one counter; ``shown_as`` is
    what block listings show for it (the account's email). Any other identifier counts
    against its canonical form.
    """
    ident = canonical_identifier(identifier)
    subject = counter_subject(connection, user_id=user_id, identifier=ident)
    shown = label(canonical_identifier(shown_as) if shown_as is not None else ident)
    if mode == PER_IDENTIFIER_AND_IP:
        address = normalise_ip(ip)
        return AttemptKey(
            key=f"{mode}:{subject}:{address}",
            subject=subject,
            label=shown,
            ip=address,
            connection=connection,
            user_id=user_id,
        )
    if mode == PER_IDENTIFIER:
        return AttemptKey(
            key=f"{mode}:{subject}",
            subject=subject,
            label=shown,
            ip=None,
            connection=connection,
            user_id=user_id,
        )
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
