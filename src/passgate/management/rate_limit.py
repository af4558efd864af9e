"""Per-token rate limits of the Management API, with Auth0's ``x-ratelimit-*`` figures.

Each access token has a token bucket of ``per_minute`` calls that refills completely in a
minute (one call back every ``60 / per_minute`` seconds). The buckets are the attack
counters' GCRA buckets (``storage.counters.IpBuckets``: one SQL statement or one Lua
script per call), kept under ``api:<32 hex of the token's SHA-256>``, so the limit holds
across workers and instances and no token is stored. ``purge`` forgets full buckets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from passgate.domain import ip_throttle
from passgate.domain.clock import Clock
from passgate.storage.counters import IpBuckets

__all__ = ["RATE_LIMIT_STAGE", "RateLimit", "RateLimiter"]

#: The bucket "stage" of Management API calls (the IP stages are ``pre-login``, …).
RATE_LIMIT_STAGE = "management-api"


@dataclass(frozen=True, slots=True)
class RateLimit:
    """One call's standing: admitted or not, and the figures the headers carry."""

    allowed: bool
    #: ``x-ratelimit-limit``: the bucket's size.
    limit: int
    #: ``x-ratelimit-remaining``: calls left now.
    remaining: int
    #: ``x-ratelimit-reset``: when the bucket is full again, in epoch seconds.
    reset: int
    #: ``Retry-After`` of a refused call: seconds until the next call is admitted.
    retry_after: int

    def headers(self) -> dict[str, str]:
        out = {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(self.reset),
        }
        if not self.allowed:
            out["retry-after"] = str(self.retry_after)
        return out


class RateLimiter:
    """Takes one call from a token's bucket (blocking: the buckets are in SQL or Redis)."""

    def __init__(self, buckets: IpBuckets, *, per_minute: int, clock: Clock) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self._buckets = buckets
        self._capacity = per_minute
        self._rate_s = 60.0 / per_minute
        self._clock = clock

    def take(self, token_key: str) -> RateLimit:
        """Admit one call of the token whose key (``Caller.token_key``) is given, or not."""
        bucket, now = f"api:{token_key}", self._clock()
        capacity, rate_s = self._capacity, self._rate_s
        allowed = self._buckets.take_token(
            bucket, RATE_LIMIT_STAGE, capacity=capacity, rate_s=rate_s, now=now
        )
        tat = self._buckets.bucket_tat(bucket, RATE_LIMIT_STAGE)
        wait = ip_throttle.retry_after(tat, now, capacity, rate_s)
        return RateLimit(
            allowed=allowed,
            limit=capacity,
            remaining=ip_throttle.remaining_tokens(tat, now, capacity, rate_s),
            reset=math.ceil(max(tat if tat is not None else now, now)),
            retry_after=0 if allowed else max(1, math.ceil(wait)),
        )
