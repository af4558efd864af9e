"""Tenant settings kept as JSON in ``tenant_settings`` (read and written through
:class:`~passgate.storage.tenant.TenantStore`): the attack-protection policies and any
other tenant-wide value.

:class:`SettingsStore` reads on demand (the CLI), cached in the process for ``cache_ttl_s``
(1 s by default, on an injected clock). A change made through it is seen at once by it; a
change made elsewhere (the CLI, another worker, another instance) within ``cache_ttl_s``.

:class:`LivePolicies` is what a server's requests read: the policies in memory, reloaded
every :data:`POLICY_RELOAD_INTERVAL_S` by a background thread, so no request ever waits on
the database for them (on the event loop or anywhere else).

A policy is changed with :meth:`SettingsStore.update_policy`, a compare-and-set on the
stored text: two changes made at once (a PATCH and a CLI command, two PATCHes of different
fields) both land, whichever process makes them.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
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
    "POLICY_RELOAD_INTERVAL_S",
    "SUSPICIOUS_IP_KEY",
    "LivePolicies",
    "Policies",
    "SettingsStore",
]

logger = logging.getLogger("passgate.storage")

BRUTE_FORCE_KEY = "brute_force_protection"
SUSPICIOUS_IP_KEY = "suspicious_ip_throttling"
BREACHED_PASSWORD_KEY = "breached_password_detection"

#: How often server processes read the policies again (a change made elsewhere is seen
#: within about this long, well inside the second the CLI promises).
POLICY_RELOAD_INTERVAL_S = 0.5

_P = TypeVar("_P", BruteForcePolicy, SuspiciousIpPolicy, BreachedPasswordPolicy)
_POLICY_KEYS: dict[type, str] = {
    BruteForcePolicy: BRUTE_FORCE_KEY,
    SuspiciousIpPolicy: SUSPICIOUS_IP_KEY,
    BreachedPasswordPolicy: BREACHED_PASSWORD_KEY,
}
#: Compare-and-set rounds before an update gives up (each loses only to a change made
#: between its read and its write).
_UPDATE_ATTEMPTS = 50


def _parse(key: str, kind: type[_P], text: str | None) -> _P:
    """The policy stored as ``text``; the default when it was never set."""
    value = None if text is None else decode(key, text)
    try:
        return kind() if value is None else kind.from_json(value)
    except PolicyError as exc:
        raise StorageError(f"tenant setting {key!r} is not a valid policy: {exc}") from exc


@dataclasses.dataclass(frozen=True, slots=True)
class Policies:
    """The three attack-protection policies, as read together."""

    brute_force: BruteForcePolicy
    suspicious_ip: SuspiciousIpPolicy
    breached_password: BreachedPasswordPolicy


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

    def update_json(self, key: str, change: Callable[[Any], Any]) -> tuple[Any, Any]:
        """Store ``change(current)`` (``current`` None when never set) unless the stored
        value changed meanwhile, then try again: no concurrent change is lost. ``change``
        may run more than once; an exception from it stores nothing. Returns the value
        before and after."""
        for _ in range(_UPDATE_ATTEMPTS):
            text = self._tenant.text(key)
            current = None if text is None else decode(key, text)
            updated = change(current)
            swapped = self._tenant.swap(key, text, updated)
            self.invalidate(key)
            if swapped:
                return current, updated
        raise StorageError(f"tenant setting {key!r} kept changing; nothing was written")

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
        policy = _parse(key, kind, self._text(key))
        self._policies[key] = (now + self._ttl, policy)
        return policy

    def read_policies(self) -> Policies:
        """The three policies as stored now, in one query past the cache."""
        keys = (BRUTE_FORCE_KEY, SUSPICIOUS_IP_KEY, BREACHED_PASSWORD_KEY)
        try:
            texts = self._tenant.texts(keys)
        except StorageError as exc:
            raise StorageError(f"reading the protection policies failed: {exc}") from exc
        return Policies(
            brute_force=_parse(BRUTE_FORCE_KEY, BruteForcePolicy, texts.get(BRUTE_FORCE_KEY)),
            suspicious_ip=_parse(
                SUSPICIOUS_IP_KEY, SuspiciousIpPolicy, texts.get(SUSPICIOUS_IP_KEY)
            ),
            breached_password=_parse(
                BREACHED_PASSWORD_KEY, BreachedPasswordPolicy, texts.get(BREACHED_PASSWORD_KEY)
            ),
        )

    def update_policy(self, kind: type[_P], change: Callable[[_P], _P]) -> tuple[_P, _P]:
        """Replace the policy ``kind`` with ``change(current)`` atomically (see
        :meth:`update_json`); an exception from ``change`` (a refused patch) stores
        nothing. Returns the policy before and after."""

        def parsed(value: Any) -> _P:
            try:
                return kind() if value is None else kind.from_json(value)
            except PolicyError as exc:
                raise StorageError(f"tenant setting is not a valid {kind.__name__}: {exc}") from exc

        last: list[tuple[_P, _P]] = []  # (before, after) of the attempt that was stored

        def changed(value: Any) -> Any:
            before = parsed(value)
            after = change(before)
            last[:] = [(before, after)]
            return after.to_json()

        self.update_json(_POLICY_KEYS[kind], changed)
        return last[0]

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


def _kept(old: _P, new: _P) -> _P:
    return old if old == new else new


def _keep_equal(old: Policies | None, new: Policies) -> Policies:
    """``new``, with each policy that did not change kept as the very object in use: a
    refusal remembered under a policy (by identity) outlives a reload that changed nothing."""
    if old is None:
        return new
    return Policies(
        brute_force=_kept(old.brute_force, new.brute_force),
        suspicious_ip=_kept(old.suspicious_ip, new.suspicious_ip),
        breached_password=_kept(old.breached_password, new.breached_password),
    )


class LivePolicies:
    """The attack-protection policies as a server's requests read them: from memory.

    :meth:`reload` reads them from the database; a server process calls it every
    :data:`POLICY_RELOAD_INTERVAL_S` from a background thread (``Passgate.schedules``), so
    a change made elsewhere takes effect within about that long. A change made through
    this object is in memory when the call returns. When a reload fails, the policies in
    memory stay in use (logged once per failing streak); while none was ever read, each
    request gets the read's error, as when requests read the policies themselves.
    """

    def __init__(self, store: SettingsStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._current: Policies | None = None
        self._error = "the protection policies were not read yet"
        #: Reloads run in several threads at once (the background one, a change made
        #: here): numbered as they start, only one newer than the last applied is applied,
        #: so a slow reload never puts back what a later one replaced.
        self._started = 0
        self._applied = 0
        self._failing = False
        self.reload()

    @property
    def store(self) -> SettingsStore:
        """The store the policies are read from (and changed through)."""
        return self._store

    def reload(self) -> None:
        with self._lock:
            self._started += 1
            ticket = self._started
        try:
            fresh = self._store.read_policies()
        except StorageError as exc:
            self._failed(exc)
            return
        with self._lock:
            if ticket > self._applied:
                self._applied = ticket
                self._current = _keep_equal(self._current, fresh)
        if self._failing:
            self._failing = False
            logger.warning("the protection policies are read again")

    def _failed(self, exc: StorageError) -> None:
        if not self._failing:
            self._failing = True
            logger.error("reading the protection policies failed (those in use stay): %s", exc)
        if self._current is None:
            self._error = str(exc)

    def _policies(self) -> Policies:
        current = self._current
        if current is None:
            raise StorageError(self._error)
        return current

    def get_brute_force(self) -> BruteForcePolicy:
        return self._policies().brute_force

    def get_suspicious_ip(self) -> SuspiciousIpPolicy:
        return self._policies().suspicious_ip

    def get_breached_password(self) -> BreachedPasswordPolicy:
        return self._policies().breached_password

    def set_brute_force(self, policy: BruteForcePolicy) -> None:
        self._store.set_brute_force(policy)
        self.reload()

    def set_suspicious_ip(self, policy: SuspiciousIpPolicy) -> None:
        self._store.set_suspicious_ip(policy)
        self.reload()

    def set_breached_password(self, policy: BreachedPasswordPolicy) -> None:
        self._store.set_breached_password(policy)
        self.reload()
