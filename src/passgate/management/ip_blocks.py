"""Suspicious IP throttling of one IP: whether it is blocked now, and lifting that.

``GET/DELETE /api/v2/anomaly/blocks/ips/{ip}`` and ``passgate ip-blocks show|remove`` go
through :class:`IpBlocks`. An IP is *blocked* when one of its stages' buckets is empty and
throttling blocks that IP (enabled, the ``block`` shield on, the IP not allowlisted);
unblocking refills every bucket of the IP, as Auth0's ``DELETE`` does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from passgate.domain import ip_throttle
from passgate.domain.clock import Clock
from passgate.domain.policy import SuspiciousIpPolicy
from passgate.storage.counters import IpBuckets

__all__ = ["IpBlocks", "IpStatus", "IpUnblock", "StageBucket"]


@dataclass(frozen=True, slots=True)
class StageBucket:
    """One stage's bucket of an IP at one moment."""

    throttled: bool
    remaining: int
    max_attempts: int
    #: Seconds until the next attempt is let through (0 when one is now).
    retry_after: float

    def to_json(self) -> dict[str, Any]:
        return {
            "throttled": self.throttled,
            "remaining": self.remaining,
            "max_attempts": self.max_attempts,
            "retry_after": round(self.retry_after, 3),
        }


@dataclass(frozen=True, slots=True)
class IpStatus:
    ip: str
    #: What throttling does for this IP (off, monitoring, enforcing).
    mode: ip_throttle.ThrottleMode
    stages: dict[str, StageBucket] = field(default_factory=dict)

    @property
    def throttled_stages(self) -> list[str]:
        return [stage for stage, bucket in self.stages.items() if bucket.throttled]

    @property
    def blocked(self) -> bool:
        """An empty bucket that refuses requests now."""
        return self.mode is ip_throttle.ThrottleMode.ENFORCE and bool(self.throttled_stages)


@dataclass(frozen=True, slots=True)
class IpUnblock:
    ip: str
    #: The stages whose bucket was empty before the refill.
    throttled_stages: list[str]
    #: Whether the IP had any bucket stored.
    refilled: bool


class IpBlocks:
    """Reads and refills an IP's buckets (blocking: the counters are in SQL or Redis).
    ``ip`` is an address in normal form (``domain.client_ip.ip_text``)."""

    def __init__(
        self,
        *,
        counters: IpBuckets,
        policy: Callable[[], SuspiciousIpPolicy],
        clock: Clock,
        on_release: Callable[[], None] = lambda: None,
    ) -> None:
        self._counters = counters
        self._policy = policy
        self._clock = clock
        self._on_release = on_release

    def status(self, ip: str) -> IpStatus:
        policy, now = self._policy(), self._clock()
        tats = self._counters.bucket_tats(ip, ip_throttle.STAGES)
        stages: dict[str, StageBucket] = {}
        for stage in ip_throttle.STAGES:
            settings = ip_throttle.stage_settings(policy, stage)
            capacity, rate_s = settings.max_attempts, ip_throttle.rate_seconds(settings.rate)
            tat = tats.get(stage)
            stages[stage] = StageBucket(
                throttled=not ip_throttle.has_token(tat, now, capacity, rate_s),
                remaining=ip_throttle.remaining_tokens(tat, now, capacity, rate_s),
                max_attempts=capacity,
                retry_after=ip_throttle.retry_after(tat, now, capacity, rate_s),
            )
        return IpStatus(ip=ip, mode=ip_throttle.throttle_mode(policy, ip), stages=stages)

    def unblock(self, ip: str) -> IpUnblock:
        """Refill every bucket of ``ip`` (every stage); this process stops refusing it
        from memory at once (others within a second)."""
        throttled = self.status(ip).throttled_stages
        refilled = self._counters.refill(ip)
        if refilled:
            self._on_release()
        return IpUnblock(ip=ip, throttled_stages=throttled, refilled=refilled)
