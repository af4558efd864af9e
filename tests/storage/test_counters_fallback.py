"""FallbackCounters' releases go to both backends, whichever of them fails.

Blocks counted while Redis was down live in SQL, so a release (``remove_blocks``,
``refill``) applies to both: a failing SQL side must not skip the Redis one (the block
an administrator removed would stay in Redis), and its error is then raised. Redis is
real; the SQL side is a real database missing its tables (an unmigrated SQLite file, a
PostgreSQL schema that does not exist).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
import sqlalchemy as sa

from passgate.domain.brute_force import PER_IDENTIFIER_AND_IP, attempt_key
from passgate.errors import StorageError
from passgate.storage.counters_fallback import FallbackCounters
from passgate.storage.counters_redis import RedisCounters
from passgate.storage.counters_sql import SqlCounters
from passgate.storage.db import make_engine, migrate

pytestmark = pytest.mark.redis

T0 = 1_800_000_000.0
CONNECTION = "Username-Password-Authentication"
IP = "203.0.113.7"
STAGE = "pre-login"
KEY = attempt_key(PER_IDENTIFIER_AND_IP, CONNECTION, "alice@example.com", IP)


@pytest.fixture
def redis_counters(redis_url: str) -> Iterator[RedisCounters]:
    prefix = f"passgate-test:{secrets.token_hex(6)}:"
    backend = RedisCounters.from_url(redis_url, prefix=prefix)
    try:
        yield backend
    finally:
        backend.close()
        client = redis.Redis.from_url(redis_url)
        try:
            for name in client.scan_iter(match=f"{prefix}*", count=500):
                client.delete(name)
        finally:
            client.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def failing_sql(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlCounters]:
    """SQL counters whose every statement fails: their tables are not there."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'unmigrated.db'}"
    else:
        pg_url: str = request.getfixturevalue("pg_url")
        base = pg_url.split("options=")[0]
        url = base + "options=" + quote("-csearch_path=pgtest_no_such_schema")
    engine = make_engine(url)
    try:
        yield SqlCounters(engine)
    finally:
        engine.dispose()


def block_in_redis(counters: FallbackCounters, redis_counters: RedisCounters) -> None:
    for _ in range(3):
        assert counters.reserve_attempt(KEY, max_attempts=3, now=T0).allowed
        counters.record_failure(KEY, now=T0)
    assert redis_counters.failures(KEY, now=T0) == 3


def test_a_failing_sql_side_still_releases_the_block_in_redis_then_raises(
    redis_counters: RedisCounters, failing_sql: SqlCounters
) -> None:
    counters = FallbackCounters(redis_counters, failing_sql)
    block_in_redis(counters, redis_counters)
    with pytest.raises(StorageError, match="remove_blocks") as raised:
        counters.remove_blocks({KEY.subject})
    assert isinstance(raised.value.__cause__, sa.exc.SQLAlchemyError)  # the SQL side's
    assert redis_counters.failures(KEY, now=T0) == 0
    assert counters.reserve_attempt(KEY, max_attempts=3, now=T0).allowed


def test_a_failing_sql_side_still_refills_the_bucket_in_redis_then_raises(
    redis_counters: RedisCounters, failing_sql: SqlCounters
) -> None:
    counters = FallbackCounters(redis_counters, failing_sql)
    assert counters.take_token(IP, STAGE, capacity=1, rate_s=60.0, now=T0)
    assert not counters.take_token(IP, STAGE, capacity=1, rate_s=60.0, now=T0)
    with pytest.raises(StorageError, match="refill"):
        counters.refill(IP)
    assert redis_counters.bucket_tat(IP, STAGE) is None
    assert counters.take_token(IP, STAGE, capacity=1, rate_s=60.0, now=T0)


def test_when_both_sides_fail_the_first_error_is_raised(
    failing_sql: SqlCounters, caplog: pytest.LogCaptureFixture
) -> None:
    down = RedisCounters.from_url("redis://127.0.0.1:1/0", timeout_s=0.2)
    try:
        counters = FallbackCounters(down, failing_sql)
        warnings = caplog.at_level(logging.WARNING, logger="passgate.storage")
        with warnings, pytest.raises(StorageError) as raised:
            counters.remove_blocks({KEY.subject})
        assert isinstance(raised.value.__cause__, sa.exc.SQLAlchemyError)
        assert "the release failed in Redis too" in caplog.text
    finally:
        down.close()


def test_redis_down_still_releases_in_sql_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Unchanged: an unreachable Redis is an outage the fallback is for, not an error."""
    engine = make_engine(f"sqlite:///{tmp_path / 'counters.db'}")
    migrate(engine)
    down = RedisCounters.from_url("redis://127.0.0.1:1/0", timeout_s=0.2)
    try:
        counters = FallbackCounters(down, SqlCounters(engine), retry_after_s=3600)
        block_in_sql = SqlCounters(engine)
        for _ in range(3):
            block_in_sql.record_failure(KEY, now=T0)
        with caplog.at_level(logging.WARNING, logger="passgate.storage"):
            assert counters.remove_blocks({KEY.subject}) == 1
        assert "released in the SQL database only" in caplog.text
        assert block_in_sql.failures(KEY, now=T0) == 0
    finally:
        down.close()
        engine.dispose()


def test_redis_down_still_purges_the_sql_side(tmp_path: Path) -> None:
    """The purge runs on both backends: what was counted in SQL during an outage is
    purged even while Redis cannot be reached (before, Redis' error skipped SQL)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'counters.db'}")
    migrate(engine)
    down = RedisCounters.from_url("redis://127.0.0.1:1/0", timeout_s=0.2)
    try:
        sql = SqlCounters(engine)
        for _ in range(3):
            sql.record_failure(KEY, now=T0)  # forgotten after 30 days
        counters = FallbackCounters(down, sql, retry_after_s=3600)
        assert counters.purge(T0 + 40 * 86400) == 1
        assert sql.failures(KEY, now=T0 + 40 * 86400) == 0
    finally:
        down.close()
        engine.dispose()


def test_a_failing_sql_side_still_purges_redis_then_raises(
    redis_counters: RedisCounters, failing_sql: SqlCounters
) -> None:
    counters = FallbackCounters(redis_counters, failing_sql)
    with pytest.raises(StorageError):
        counters.purge(T0)
