"""Tenant settings kept as JSON in ``tenant_settings``: the attack-protection policies and
any other tenant-wide value.

Reads are cached in the process for ``cache_ttl_s`` (1 s by default, on an injected clock),
so the login path does not query the settings on every request. A change made through this
store is seen at once by this store; a change made elsewhere (the CLI, another worker, another
instance) takes effect here within ``cache_ttl_s``.

A policy is changed with :meth:`SettingsStore.update_policy`, a compare-and-set on the
stored text: two changes made at once (a PATCH and a CLI command, two PATCHes of different
fields) both land, whichever process makes them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from passgate.domain.clock import Clock, system_clock
from passgate.domain.policy import (
    BreachedPasswordPolicy,
    BruteForcePolicy,
    PolicyError,
    SuspiciousIpPolicy,
)
from passgate.errors import StorageError
from passgate.storage.schema import tenant_settings

__all__ = [
    "BREACHED_PASSWORD_KEY",
    "BRUTE_FORCE_KEY",
    "SUSPICIOUS_IP_KEY",
    "SettingsStore",
]

BRUTE_FORCE_KEY = "brute_force_protection"
SUSPICIOUS_IP_KEY = "suspicious_ip_throttling"
BREACHED_PASSWORD_KEY = "breached_password_detection"

_ts = tenant_settings
_P = TypeVar("_P", BruteForcePolicy, SuspiciousIpPolicy, BreachedPasswordPolicy)
_POLICY_KEYS: dict[type, str] = {
    BruteForcePolicy: BRUTE_FORCE_KEY,
    SuspiciousIpPolicy: SUSPICIOUS_IP_KEY,
    BreachedPasswordPolicy: BREACHED_PASSWORD_KEY,
}
#: Compare-and-set rounds before an update gives up (each loses only to a change made
#: between its read and its write).
_UPDATE_ATTEMPTS = 50


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


class SettingsStore:
    def __init__(
        self, engine: sa.Engine, *, clock: Clock = system_clock, cache_ttl_s: float = 1.0
    ) -> None:
        self._engine = engine
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
        query = sa.select(_ts.c.value).where(_ts.c.key == key)
        try:
            with self._engine.connect() as connection:
                text = connection.execute(query).scalar_one_or_none()
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"reading tenant setting {key!r} failed: {exc}") from exc
        self._texts[key] = (now + self._ttl, text)
        return text

    def get_json(self, key: str) -> Any:
        """The stored value (a fresh copy), or None when the key was never set."""
        text = self._text(key)
        if text is None:
            return None
        try:
            return json.loads(text)
        except ValueError as exc:
            raise StorageError(f"tenant setting {key!r} is not valid JSON: {exc}") from exc

    def set_json(self, key: str, value: Any) -> None:
        text = _dumps(value)
        if self._engine.dialect.name == "postgresql":
            pg = postgresql.insert(_ts).values(key=key, value=text)
            stmt: sa.Executable = pg.on_conflict_do_update(
                index_elements=[_ts.c.key], set_={"value": text}
            )
        else:
            lite = sqlite.insert(_ts).values(key=key, value=text)
            stmt = lite.on_conflict_do_update(index_elements=[_ts.c.key], set_={"value": text})
        try:
            with self._engine.begin() as connection:
                connection.execute(stmt)
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"writing tenant setting {key!r} failed: {exc}") from exc
        self.invalidate(key)

    def _stored_text(self, key: str) -> str | None:
        """The stored text, read now (not cached)."""
        self._texts.pop(key, None)
        return self._text(key)

    def _swap(self, key: str, old: str | None, new: str) -> bool:
        """Store ``new`` if the stored text is still ``old`` (absent when None)."""
        statement: sa.Executable
        if old is None:
            insert = (
                postgresql.insert if self._engine.dialect.name == "postgresql" else sqlite.insert
            )
            statement = insert(_ts).values(key=key, value=new).on_conflict_do_nothing()
        else:
            statement = sa.update(_ts).where(_ts.c.key == key, _ts.c.value == old).values(value=new)
        # RETURNING says whether a row was written (an insert's rowcount is -1 on psycopg).
        statement = statement.returning(_ts.c.key)
        try:
            with self._engine.begin() as connection:
                swapped = connection.execute(statement).first() is not None
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"writing tenant setting {key!r} failed: {exc}") from exc
        self.invalidate(key)
        return swapped

    def update_json(self, key: str, change: Callable[[Any], Any]) -> tuple[Any, Any]:
        """Store ``change(current)`` (``current`` None when never set) unless the stored
        value changed meanwhile, then try again: no concurrent change is lost. ``change``
        may run more than once; an exception from it stores nothing. Returns the value
        before and after."""
        for _ in range(_UPDATE_ATTEMPTS):
            text = self._stored_text(key)
            try:
                current = None if text is None else json.loads(text)
            except ValueError as exc:
                raise StorageError(f"tenant setting {key!r} is not valid JSON: {exc}") from exc
            updated = change(current)
            if self._swap(key, text, _dumps(updated)):
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
        value = self.get_json(key)
        try:
            policy = kind() if value is None else kind.from_json(value)
        except PolicyError as exc:
            raise StorageError(f"tenant setting {key!r} is not a valid policy: {exc}") from exc
        self._policies[key] = (now + self._ttl, policy)
        return policy

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
