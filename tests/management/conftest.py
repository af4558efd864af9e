"""Fixtures: an :class:`Admin` (a stack with the Management API and an M2M client holding
every scope) on SQLite (counters in SQL) and on PostgreSQL with the counters in Redis, and
more instances of that passgate on the same database and counters."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette

from passgate.app import Passgate, create_app
from passgate.settings import Settings
from passgate.storage.counters_redis import RedisCounters
from tests.management.helpers import Admin, ensure_management_api, m2m_client, management_token
from tests.protection_e2e.helpers import (
    Stack,
    build_stack,
    delete_redis_prefix,
    settings_for,
    sqlite_url,
    truncate,
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclasses.dataclass
class Backend:
    """Where the tests' passgates keep their data: one database, one set of counters."""

    sql_url: str
    redis_url: str | None
    prefix: str
    opened: list[Passgate] = dataclasses.field(default_factory=list)

    def counters(self) -> RedisCounters | None:
        if self.redis_url is None:
            return None
        return RedisCounters.from_url(self.redis_url, prefix=self.prefix)

    def close(self) -> None:
        for passgate in self.opened:
            passgate.close()
            if isinstance(passgate.counters, RedisCounters):
                passgate.counters.close()
        if self.redis_url is not None:
            delete_redis_prefix(self.redis_url, self.prefix)


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres+redis", marks=[pytest.mark.postgres, pytest.mark.redis]),
    ]
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        found = Backend(sqlite_url(tmp_path), None, "")
    else:
        pg_url: str = request.getfixturevalue("pg_url")
        truncate(pg_url)
        redis_url: str = request.getfixturevalue("redis_url")
        found = Backend(pg_url, redis_url, f"passgate-mgmt:{secrets.token_hex(6)}:")
    try:
        yield found
    finally:
        found.close()


@pytest.fixture
def make_stack(
    backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Stack]:
    """Builds the stack (settings overrides as keywords) with the Management API."""

    def factory(**overrides: object) -> Stack:
        settings = settings_for(tmp_path, backend.sql_url, **overrides)
        stack = build_stack(settings, monkeypatch, counters=backend.counters())
        backend.opened.append(stack.passgate)
        ensure_management_api(stack)
        return stack

    return factory


@pytest.fixture
def make_instance(backend: Backend) -> Callable[[Stack], Starlette]:
    """Another passgate instance beside ``stack``: same settings, database, counters and
    clock (its events go to the stack's too)."""

    def factory(stack: Stack, **overrides: object) -> Starlette:
        settings = Settings(**{**stack.passgate.settings.model_dump(), **overrides})
        passgate = Passgate(
            settings, clock=stack.clock, events=stack.events, counters=backend.counters()
        )
        backend.opened.append(passgate)
        return create_app(passgate)

    return factory


@pytest.fixture
def stack(make_stack: Callable[..., Stack]) -> Stack:
    return make_stack()


@pytest.fixture
async def admin(stack: Stack) -> AsyncIterator[Admin]:
    async with stack.http() as http:
        client = m2m_client(stack)
        token = await management_token(http, client)
        yield Admin(stack=stack, http=http, client=client, token=token)


@pytest.fixture
async def lite_admin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Admin]:
    """An admin on SQLite with the counters in the database, where the CLI, run with the
    same settings, shares them (the Redis backend's counters live under a test prefix)."""
    found = Backend(sqlite_url(tmp_path), None, "")
    try:
        stack = build_stack(settings_for(tmp_path, found.sql_url), monkeypatch)
        found.opened.append(stack.passgate)
        ensure_management_api(stack)
        async with stack.http() as http:
            client = m2m_client(stack)
            yield Admin(stack, http, client, await management_token(http, client))
    finally:
        found.close()
