"""Tenant settings kept as JSON in ``tenant_settings`` (read and written through
:class:`~passgate.storage.tenant.TenantStore`): the attack-protection policies and any
other tenant-wide value.

Reads are cached in the process for ``cache_ttl_s`` (1 s by default, on an injected clock),
so the login path does not query the settings on every request. A change made through this
store is seen at once by this store; a change made elsewhere (the CLI, another worker, another
instance) takes effect here within ``cache_ttl_s``.
"""

from __future__ import annotations

from typing import Any, TypeVar

import sqlalchemy as sa

from passgate.domain.clock import Clock, system_clock
from passgate.domain.policy import (
    BreachedPasswordPolicy,
    BruteForcePolicy,
    PolicyError,
    SuspiciousIpPolicy,
)
from passgate.errors import StorageError
from passgate.storage.tenant import TenantStore, decode

__all__ = [
    "BREACHED_PASSWORD_KEY",
    "BRUTE_FORCE_KEY",
    "SUSPICIOUS_IP_KEY",
    "SettingsStore",
]

BRUTE_FORCE_KEY = "brute_force_protection"
SUSPICIOUS_IP_KEY = "suspicious_ip_throttling"
BREACHED_PASSWORD_KEY = "breached_password_detection"

_P = TypeVar("_P", BruteForcePolicy, SuspiciousIpPolicy, BreachedPasswordPolicy)


class SettingsStore:
    def __init__(
        self, engine: sa.Engine, *, clock: Clock = system_clock, cache_ttl_s: float = 1.0
    ) -> None:
        self._tenant = TenantStore(engine)
        self._clock = clock
        self._ttl = cache_ttl_s
        # key -> (expires_at, stored JSON text or None); and parsed policies by key.
        self._texts: dict[str, tuple[float, str | None]] = {}
        self._policies: dict[str, tuple[float, object]] = {}

    # --- generic JSON --------------------------------------------------------------

    def _text(self, key: str) -> str | None:
        now = self._clock()
        cached = self._texts.get(key)
        if cached is not None and now < cached[0]:
            return cached[1]
        text = self._tenant.text(key)
        self._texts[key] = (now + self._ttl, text)
        return text

    def get_json(self, key: str) -> Any:
        """The stored value (a fresh copy), or None when the key was never set."""
        text = self._text(key)
        return None if text is None else decode(key, text)

    def set_json(self, key: str, value: Any) -> None:
        self._tenant.set(key, value)
        self.invalidate(key)

    def invalidate(self, key: str | None = None) -> None:
        """Forget cached values (one key, or all)."""
        if key is None:
            self._texts.clear()
            self._policies.clear()
        else:
            self._texts.pop(key, None)
            self._policies.pop(key, None)

    # --- policies ------------------------------------------------------------------

    def _policy(self, key: str, kind: type[_P]) -> _P:
        now = self._clock()
        cached = self._policies.get(key)
        if cached is not None and now < cached[0] and isinstance(cached[1], kind):
            return cached[1]
        value = self.get_json(key)
        try:
            policy = kind() if value is None else kind.from_json(value)
        except PolicyError as exc:
            raise StorageError(f"tenant setting {key!r} is not a valid policy: {exc}") from exc
        self._policies[key] = (now + self._ttl, policy)
        return policy

    def get_brute_force(self) -> BruteForcePolicy:
        return self._policy(BRUTE_FORCE_KEY, BruteForcePolicy)

    def set_brute_force(self, policy: BruteForcePolicy) -> None:
        self.set_json(BRUTE_FORCE_KEY, policy.to_json())

    def get_suspicious_ip(self) -> SuspiciousIpPolicy:
        return self._policy(SUSPICIOUS_IP_KEY, SuspiciousIpPolicy)

    def set_suspicious_ip(self, policy: SuspiciousIpPolicy) -> None:
        self.set_json(SUSPICIOUS_IP_KEY, policy.to_json())

    def get_breached_password(self) -> BreachedPasswordPolicy:
        return self._policy(BREACHED_PASSWORD_KEY, BreachedPasswordPolicy)

    def set_breached_password(self, policy: BreachedPasswordPolicy) -> None:
        self.set_json(BREACHED_PASSWORD_KEY, policy.to_json())
