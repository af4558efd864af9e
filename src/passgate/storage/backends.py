"""Choosing a counters backend: by URL, or as the settings say (SQL, Redis, or Redis with
a fallback to SQL). The adapters stay apart from the ports they implement."""

from __future__ import annotations

import logging
from collections.abc import Callable

import sqlalchemy as sa

from passgate.errors import StorageError
from passgate.settings import Settings
from passgate.storage.counters import AttackCounters, AttemptKey
from passgate.storage.counters_fallback import FallbackCounters
from passgate.storage.counters_redis import RedisCounters
from passgate.storage.counters_sql import SqlCounters

__all__ = [
    "adopt_older_counters",
    "counter_backend_state",
    "counters_from_settings",
    "open_counters",
]

logger = logging.getLogger("passgate")


def open_counters(
    url: str, *, engine: sa.Engine | None = None, prefix: str = "passgate:"
) -> AttackCounters:
    """A counters backend chosen by URL: ``redis://``/``rediss://``/``unix://`` give
    :class:`RedisCounters` (keys under ``prefix``); anything else is a SQL URL, served by
    ``engine`` when given (share the application's engine) or a new one."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        from passgate.storage.counters_redis import RedisCounters

        return RedisCounters.from_url(url, prefix=prefix)

    if engine is None:
        from passgate.storage.db import make_engine

        engine = make_engine(url)
    return SqlCounters(engine)


def counters_from_settings(
    settings: Settings, engine: sa.Engine
) -> tuple[AttackCounters, Callable[[], None]]:
    """The counters a passgate process uses, and how to close them: SQL on ``engine``; or
    Redis when ``redis_url`` is set, with a fallback to SQL when ``redis_unavailable`` is
    ``fallback``."""

    sql = SqlCounters(engine)
    if settings.redis_url is None:
        return sql, lambda: None

    redis = RedisCounters.from_url(settings.redis_url.get_secret_value())
    if settings.redis_unavailable == "fallback":
        return FallbackCounters(redis, sql), redis.close
    return redis, redis.close


def adopt_older_counters(
    counters: AttackCounters,
    rekey: Callable[[str, str, str, str | None], AttemptKey],
    now: float,
) -> None:
    """Counters an older passgate kept in Redis move to today's keys (once); ``rekey``
    gives today's key for an older key's (mode, connection, identifier, ip)."""
    if not isinstance(counters, RedisCounters | FallbackCounters):
        return
    try:
        moved = counters.adopt_older_keys(rekey, now)
    except StorageError as exc:
        logger.warning("counters of an older version not adopted yet: %s", exc)
        return
    if moved:
        logger.info("adopted %d brute-force counters of an older version", moved)


def counter_backend_state(counters: AttackCounters) -> tuple[str, str]:
    """(backend, state) for the metrics: ``("sql", "ok")``; ``("redis", "ok")``; with
    Redis down, ``("redis", "fallback")`` when counting in SQL meanwhile, else
    ``("redis", "refusing")`` (logins get 503). Costs one Redis PING."""
    if isinstance(counters, FallbackCounters):
        primary = counters.primary
        down = counters.describe()["primary_down"]
        if not down and isinstance(primary, RedisCounters) and primary.ping():
            return "redis", "ok"
        return "redis", "fallback"
    if isinstance(counters, RedisCounters):
        return "redis", "ok" if counters.ping() else "refusing"
    return "sql", "ok"
