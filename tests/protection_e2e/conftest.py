"""Fixtures. ``make_stack``/``stack`` run a test on three backends: SQLite, PostgreSQL
(counters in SQL) and Redis (counters under a key prefix of the test's own, deleted
afterwards); ``make_lite_stack``/``lite_stack`` on SQLite only, for behaviour that does
not depend on where counters are kept (whose IP counts)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from passgate.storage.counters_redis import RedisCounters
from tests.protection_e2e.helpers import (
    Stack,
    build_stack,
    delete_redis_prefix,
    settings_for,
    sqlite_url,
    truncate,
)

StackFactory = Callable[..., Stack]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _factory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sql_url: str, redis_url: str | None
) -> Iterator[StackFactory]:
    built: list[Stack] = []
    prefix = f"passgate-e2e:{secrets.token_hex(6)}:"

    def factory(**overrides: Any) -> Stack:
        counters = None
        if redis_url is not None:
            counters = RedisCounters.from_url(redis_url, prefix=prefix)
        settings = settings_for(tmp_path, sql_url, **overrides)
        stack = build_stack(settings, monkeypatch, counters=counters)
        built.append(stack)
        return stack

    try:
        yield factory
    finally:
        for stack in built:
            stack.passgate.close()
            if isinstance(stack.passgate.counters, RedisCounters):
                stack.passgate.counters.close()
        if redis_url is not None:
            delete_redis_prefix(redis_url, prefix)


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("redis", marks=pytest.mark.redis),
    ]
)
def make_stack(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[StackFactory]:
    """Builds stacks (settings overrides as keywords) on one backend; closes them after."""
    backend: str = request.param
    if backend == "postgres":
        sql_url: str = request.getfixturevalue("pg_url")
        truncate(sql_url)
    else:
        sql_url = sqlite_url(tmp_path)
    redis_url: str | None = request.getfixturevalue("redis_url") if backend == "redis" else None
    yield from _factory(tmp_path, monkeypatch, sql_url, redis_url)


@pytest.fixture
def stack(make_stack: StackFactory) -> Stack:
    return make_stack()


@pytest.fixture
def make_lite_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StackFactory]:
    yield from _factory(tmp_path, monkeypatch, sqlite_url(tmp_path), None)


@pytest.fixture
def lite_stack(make_lite_stack: StackFactory) -> Stack:
    return make_lite_stack()
