"""Suspicious IP throttling: a token bucket per (IP, stage), kept as GCRA.

The bucket holds ``capacity`` tokens (the policy's ``max_attempts``) and one token comes
back every ``rate_s`` seconds (the policy's ``rate``, in milliseconds, divided by 1000).
Instead of a token count and a refill time, the Generic Cell Rate Algorithm stores one
float, the *theoretical arrival time* ``tat``: the bucket is full when ``tat <= now``, and
holds ``(now + capacity * rate_s - max(tat, now)) / rate_s`` tokens otherwise. Taking a
token moves ``tat`` one ``rate_s`` later; an empty bucket has ``tat = now + capacity *
rate_s`` and ``tat`` never goes further than that. A ``tat`` of ``None`` is a bucket never
used (or refilled): full.

Comparisons allow :data:`~passgate.storage.counters.GCRA_TOLERANCE_S` (1 ms) of slack, so
float rounding of repeated ``tat + rate_s`` never costs a legitimate token; a token may come
back up to 1 ms early.

The pure functions below are the rule; the storage backends apply the same arithmetic in
one SQL statement or one Lua script.
"""

from __future__ import annotations

import math
from enum import Enum
from typing import TYPE_CHECKING

from passgate.domain.attempts import GCRA_TOLERANCE_S

if TYPE_CHECKING:
    from passgate.domain.policy import SuspiciousIpPolicy, ThrottleStage

__all__ = [
    "PRE_LOGIN",
    "PRE_USER_REGISTRATION",
    "STAGES",
    "ThrottleMode",
    "after_consume",
    "has_token",
    "rate_seconds",
    "remaining_tokens",
    "retry_after",
    "stage_settings",
    "throttle_mode",
]

PRE_LOGIN = "pre-login"
PRE_USER_REGISTRATION = "pre-user-registration"
STAGES = (PRE_LOGIN, PRE_USER_REGISTRATION)


def _start(tat: float | None, now: float) -> float:
    return now if tat is None or tat < now else tat


def has_token(tat: float | None, now: float, capacity: int, rate_s: float) -> bool:
    """Whether a token can be taken at ``now``."""
    empty_at = now + capacity * rate_s
    return _start(tat, now) + rate_s <= empty_at + GCRA_TOLERANCE_S


def after_consume(tat: float | None, now: float, capacity: int, rate_s: float) -> float:
    """The ``tat`` after taking one token at ``now``; unchanged when the bucket is empty.

    Never beyond "empty" (``now + capacity * rate_s``), so a flood of refused requests
    does not push the refill further away.
    """
    start = _start(tat, now)
    if not has_token(tat, now, capacity, rate_s):
        return start if tat is None else tat
    empty_at = now + capacity * rate_s
    consumed = start + rate_s
    return consumed if consumed < empty_at else empty_at


def remaining_tokens(tat: float | None, now: float, capacity: int, rate_s: float) -> int:
    """Whole tokens left at ``now`` (for display and headers), 0..capacity."""
    empty_at = now + capacity * rate_s
    tokens = math.floor((empty_at - _start(tat, now) + GCRA_TOLERANCE_S) / rate_s)
    return max(0, min(capacity, tokens))


def retry_after(tat: float | None, now: float, capacity: int, rate_s: float) -> float:
    """Seconds until the next token is available (0 when one is available now)."""
    if has_token(tat, now, capacity, rate_s):
        return 0.0
    assert tat is not None  # an untouched bucket always has a token
    return max(0.0, tat - (capacity - 1) * rate_s - now - GCRA_TOLERANCE_S)


def rate_seconds(rate_ms: int) -> float:
    """The policy's ``rate`` (milliseconds per returned attempt) in seconds."""
    return rate_ms / 1000.0


class ThrottleMode(Enum):
    #: Throttling disabled or the IP is allowlisted: no bucket is touched.
    OFF = "off"
    #: Buckets are consumed and empty ones logged (``limit_mu``), never refused.
    MONITOR = "monitor"
    #: An empty bucket refuses the request with 429.
    ENFORCE = "enforce"


def throttle_mode(policy: SuspiciousIpPolicy, ip: str) -> ThrottleMode:
    """What suspicious IP throttling does for requests from ``ip`` (the end user's IP)."""
    if not policy.enabled or policy.ip_allowlist.contains(ip):
        return ThrottleMode.OFF
    if "block" not in policy.shields:
        return ThrottleMode.MONITOR
    return ThrottleMode.ENFORCE


def stage_settings(policy: SuspiciousIpPolicy, stage: str) -> ThrottleStage:
    """The stage's settings; ``capacity = .max_attempts``, ``rate_s = rate_seconds(.rate)``."""
    if stage == PRE_LOGIN:
        return policy.pre_login
    if stage == PRE_USER_REGISTRATION:
        return policy.pre_user_registration
    raise ValueError(f"unknown throttling stage {stage!r}")
