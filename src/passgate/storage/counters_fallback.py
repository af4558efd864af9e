"""Redis with a fallback: when Redis cannot be reached, count in the SQL database.

Chosen with ``PASSGATE_REDIS_UNAVAILABLE=fallback``. While Redis is down, counts start
afresh in SQL (what Redis held is not visible there), so protection is weaker but never
off; with ``refuse`` (the default) logins get 503 instead. After a failure Redis is not
tried again for ``retry_after_s`` seconds, so an outage does not add a connect timeout to
every request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar

from passgate.domain.attempts import DEFAULT_HOLD_SECONDS, AttemptKey, BlockRecord, Reservation
from passgate.errors import StorageError
from passgate.storage.counters import AttackCounters

__all__ = ["FallbackCounters"]

logger = logging.getLogger("passgate.storage")
T = TypeVar("T")


class FallbackCounters:
    def __init__(
        self, primary: AttackCounters, secondary: AttackCounters, *, retry_after_s: float = 5.0
    ) -> None:
        self._primary = primary
        self._secondary = secondary
        self._retry_after = retry_after_s
        self._down_until = 0.0
        self._lock = threading.Lock()

    def _call(self, op: Callable[[AttackCounters], T]) -> T:
        if time.monotonic() >= self._down_until:
            try:
                return op(self._primary)
            except StorageError as exc:
                with self._lock:
                    self._down_until = time.monotonic() + self._retry_after
                logger.warning("Redis unavailable, counting in the SQL database: %s", exc)
        return op(self._secondary)

    def reserve_attempt(
        self,
        key: AttemptKey,
        *,
        max_attempts: int,
        now: float,
        hold_s: float = DEFAULT_HOLD_SECONDS,
    ) -> Reservation:
        return self._call(
            lambda c: c.reserve_attempt(key, max_attempts=max_attempts, now=now, hold_s=hold_s)
        )

    def record_failure(self, key: AttemptKey, *, now: float, release: bool = True) -> int:
        return self._call(lambda c: c.record_failure(key, now=now, release=release))

    def record_success(self, key: AttemptKey, *, now: float) -> None:
        self._call(lambda c: c.record_success(key, now=now))

    def release(self, key: AttemptKey, *, now: float) -> None:
        self._call(lambda c: c.release(key, now=now))

    def failures(self, key: AttemptKey, *, now: float) -> int:
        return self._call(lambda c: c.failures(key, now=now))

    def list_blocks(
        self,
        subjects: Collection[str] | None,
        *,
        max_attempts: int,
        now: float,
        per_ip: bool | None = None,
    ) -> list[BlockRecord]:
        return self._call(
            lambda c: c.list_blocks(subjects, max_attempts=max_attempts, now=now, per_ip=per_ip)
        )

    def _both(self, op: Callable[[AttackCounters], int]) -> int:
        """Releases (and purges) apply to both backends: blocks counted during an outage
        live in SQL.

        Both are tried whatever the other did; then the SQL side's error, if any, is
        raised (the first one). Redis being unreachable alone is the outage this class
        is for: logged, and the SQL count returned."""
        done = 0
        sql_error: Exception | None = None
        try:
            done += op(self._secondary)
        except Exception as exc:
            sql_error = exc
        try:
            done += op(self._primary)
        except Exception as exc:
            if sql_error is not None:
                logger.warning("the release failed in Redis too: %s", exc)
            elif isinstance(exc, StorageError):
                logger.warning("Redis unavailable, released in the SQL database only: %s", exc)
            else:
                raise
        if sql_error is not None:
            raise sql_error
        return done

    def remove_blocks(
        self, subjects: Collection[str], ip: str | None = None, *, connection: str | None = None
    ) -> int:
        return self._both(lambda c: c.remove_blocks(subjects, ip, connection=connection))

    def adopt_older_keys(
        self, rekey: Callable[[str, str, str, str | None], AttemptKey], now: float
    ) -> int:
        """Redis's ``adopt_older_keys`` (the SQL counters were migrated)."""
        adopt = getattr(self._primary, "adopt_older_keys", None)
        return int(adopt(rekey, now)) if adopt is not None else 0

    def take_token(self, ip: str, stage: str, *, capacity: int, rate_s: float, now: float) -> bool:
        return self._call(
            lambda c: c.take_token(ip, stage, capacity=capacity, rate_s=rate_s, now=now)
        )

    def has_token(self, ip: str, stage: str, *, capacity: int, rate_s: float, now: float) -> bool:
        return self._call(
            lambda c: c.has_token(ip, stage, capacity=capacity, rate_s=rate_s, now=now)
        )

    def refill(self, ip: str) -> bool:
        return bool(self._both(lambda c: int(c.refill(ip))))

    def bucket_tat(self, ip: str, stage: str) -> float | None:
        return self._call(lambda c: c.bucket_tat(ip, stage))

    def bucket_tats(self, ip: str, stages: Sequence[str]) -> dict[str, float | None]:
        return self._call(lambda c: c.bucket_tats(ip, stages))

    def once(self, key: str, *, ttl_s: float, now: float) -> bool:
        return self._call(lambda c: c.once(key, ttl_s=ttl_s, now=now))

    def purge(self, now: float) -> int:
        """Both backends: the SQL one keeps what it counted while Redis was down, and is
        purged even while Redis cannot be reached."""
        return self._both(lambda c: c.purge(now))

    @property
    def primary(self) -> AttackCounters:
        return self._primary

    def describe(self) -> dict[str, Any]:
        return {"primary_down": time.monotonic() < self._down_until}
