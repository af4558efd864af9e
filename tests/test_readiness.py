"""``GET /ready``: 200 only while the database, Redis (when configured) and the breached
index (when asked for) work; 503 naming the failing part otherwise; never on the event loop.

Parts are made to fail for real: a ``redis-server`` started here and killed or stopped
(SIGSTOP), a port nothing listens on, PostgreSQL behind a TCP proxy that is frozen or
stopped.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import sqlalchemy as sa

from passgate.app import Passgate, create_app
from passgate.breached import import_corpus
from passgate.storage.directory import DEFAULT_CONNECTION
from passgate.web.readiness import Probe, Readiness, Verdict
from tests.breached.helpers import hash_lines, write_lines
from tests.processes import free_port
from tests.support import cheap_settings
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.anyio

ISSUER = "https://passgate.test/"
PASSWORD = "a long and private passphrase"
REDIS_PASSWORD = "redis-s3cret-password"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class RedisServer:
    """A ``redis-server`` of this test only, on a free port, with a password."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.port = free_port()
        self.url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{self.port}/0"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--requirepass", REDIS_PASSWORD, "--dir", str(directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url, socket_timeout=1)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        client.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
        self.process.wait(10)

    def pause(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Any]:
    built: list[Passgate] = []

    def make(sql_url: str, **overrides: Any) -> Passgate:
        settings = cheap_settings(tmp_path / "data", sql_url, issuer=ISSUER, **overrides)
        passgate = Passgate(settings, buffered_events=False)
        built.append(passgate)
        return passgate

    yield make
    for passgate in built:
        passgate.close()


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ready.db'}"


async def get(passgate: Passgate, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_app(passgate))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        return await http.get(path)


async def login(passgate: Passgate) -> httpx.Response:
    client, secret = passgate.applications.create_client(
        name="Shop", app_type="regular_web", auth_method="client_secret_post",
        grant_types=["password"],
    )  # fmt: skip
    passgate.directory.create_user(
        connection=DEFAULT_CONNECTION,
        email="alice@example.com",
        password_hash=passgate.hasher.hash(PASSWORD),
    )
    form = {
        "grant_type": "password",
        "username": "alice@example.com",
        "password": PASSWORD,
        "client_id": client.client_id,
        "client_secret": secret or "",
    }
    transport = httpx.ASGITransport(app=create_app(passgate))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        return await http.post("/oauth/token", data=form)


def assert_no_secret(answer: httpx.Response, *secrets: str) -> None:
    for secret in (REDIS_PASSWORD, "redis://", "postgresql", "@127.0.0.1", *secrets):
        assert secret not in answer.text


# -- every part working ----------------------------------------------------------------


async def test_ready_when_the_database_works(make: Any, sql_url: str) -> None:
    passgate = make(sql_url)
    answer = await get(passgate, "/ready")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ready"}
    assert answer.headers["cache-control"] == "no-store"


async def test_ready_with_redis_counters(
    make: Any, sql_url: str, redis_server: RedisServer
) -> None:
    passgate = make(sql_url, redis_url=redis_server.url)
    answer = await get(passgate, "/ready")
    assert answer.json() == {"status": "ready"}
    assert [probe.name for probe in passgate.readiness.probes] == [
        "database",
        "counters",
        "breached_index",
    ]


# -- Redis ------------------------------------------------------------------------------


async def test_a_killed_redis_makes_it_unavailable_while_health_says_ok(
    make: Any, tmp_path: Path, redis_server: RedisServer
) -> None:
    passgate = make(sqlite_url(tmp_path), redis_url=redis_server.url)
    passgate.readiness.max_age_s = 0
    assert (await get(passgate, "/ready")).status_code == 200

    redis_server.kill()
    answer = await get(passgate, "/ready")
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "unavailable"
    assert set(body["failing"]) == {"counters"}
    assert body["reason"].startswith("counters: Redis is unreachable")
    assert "refuse" in body["reason"]
    assert_no_secret(answer, str(redis_server.port))
    # What /ready is for: /health still says ok, and logins do fail.
    assert (await get(passgate, "/health")).json() == {"status": "ok"}
    assert (await login(passgate)).status_code == 503


async def test_redis_refusing_the_password_is_named_without_the_password(
    make: Any, tmp_path: Path, redis_server: RedisServer
) -> None:
    wrong = redis_server.url.replace(REDIS_PASSWORD, "not-the-password")
    passgate = make(sqlite_url(tmp_path), redis_url=wrong)
    answer = await get(passgate, "/ready")
    assert answer.status_code == 503
    assert answer.json()["failing"] == {
        "counters": "Redis refused the credentials; logins are refused "
        "(PASSGATE_REDIS_UNAVAILABLE=refuse)"
    }
    assert_no_secret(answer, "not-the-password")


async def test_an_unreachable_redis_in_fallback_mode_is_degraded_but_ready(
    make: Any, sql_url: str
) -> None:
    closed = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{free_port()}/0"
    passgate = make(sql_url, redis_url=closed, redis_unavailable="fallback")
    answer = await get(passgate, "/ready")
    assert answer.status_code == 200
    assert answer.json() == {
        "status": "degraded",
        "degraded": {
            "counters": "Redis is unreachable; counting in the SQL database (fallback)",
        },
    }
    assert_no_secret(answer)
    assert (await login(passgate)).status_code == 200  # as /ready said


async def test_a_hung_redis_answers_within_the_time_bound_off_the_event_loop(
    make: Any, tmp_path: Path, redis_server: RedisServer
) -> None:
    passgate = make(sqlite_url(tmp_path), redis_url=redis_server.url)
    passgate.readiness.max_age_s = 0
    app = create_app(passgate)
    redis_server.pause()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:

            async def timed(path: str) -> tuple[float, httpx.Response]:
                started = time.monotonic()
                answer = await http.get(path)
                return time.monotonic() - started, answer

            (ready_s, ready), (health_s, health) = await asyncio.gather(
                timed("/ready"), timed("/health")
            )
            assert ready.status_code == 503
            assert set(ready.json()["failing"]) == {"counters"}
            assert ready_s < 2.0
            assert health.status_code == 200
            assert health_s < 0.5  # the event loop was free while /ready waited
            # A second /ready while the first check still hangs does not start another.
            again_s, again = await timed("/ready")
            assert again.status_code == 503
            assert again_s < 2.0
    finally:
        redis_server.resume()
    deadline = time.monotonic() + 10
    while (await get(passgate, "/ready")).status_code != 200:
        assert time.monotonic() < deadline, "not ready again after Redis came back"
        await asyncio.sleep(0.1)


# -- the database ---------------------------------------------------------------------


@pytest.mark.postgres
async def test_postgresql_stopped_or_hung_makes_it_unavailable(make: Any, pg_url: str) -> None:
    url = sa.engine.make_url(pg_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    try:
        proxied = url.set(host="127.0.0.1", port=proxy.port)
        passgate = make(proxied.render_as_string(hide_password=False))
        passgate.readiness.max_age_s = 0
        assert (await get(passgate, "/ready")).json() == {"status": "ready"}

        proxy.freeze()
        started = time.monotonic()
        hung = await get(passgate, "/ready")
        assert time.monotonic() - started < 2.0
        assert hung.status_code == 503
        assert hung.json()["failing"] == {"database": "no answer within 1 s"}

        proxy.stop()
        deadline = time.monotonic() + 10
        while (answer := await get(passgate, "/ready")).json()["failing"] != {
            "database": "query failed (OperationalError)"
        }:
            assert time.monotonic() < deadline, answer.text
            await asyncio.sleep(0.1)
        assert answer.status_code == 503
        assert_no_secret(answer, str(proxy.port))
    finally:
        proxy.stop()


async def test_a_sqlite_database_without_the_schema_is_unavailable(
    make: Any, tmp_path: Path
) -> None:
    passgate = make(sqlite_url(tmp_path))
    with passgate.engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE alembic_version"))
    answer = await get(passgate, "/ready")
    assert answer.status_code == 503
    assert answer.json()["failing"] == {"database": "query failed (OperationalError)"}


# -- the breached index ----------------------------------------------------------------


async def test_a_configured_breached_index_must_be_loaded(make: Any, tmp_path: Path) -> None:
    index = tmp_path / "corpus" / "breached.idx"
    passgate = make(sqlite_url(tmp_path), breached_index=index)
    passgate.readiness.max_age_s = 0
    answer = await get(passgate, "/ready")
    assert answer.status_code == 503
    assert answer.json()["failing"] == {
        "breached_index": "no index loaded (passgate breached import makes one)"
    }
    assert str(index) not in answer.text

    source = write_lines(tmp_path / "corpus.txt", hash_lines({"hunter2": 3}))
    import_corpus([source], index)
    assert passgate.breached.checker.refresh()
    assert (await get(passgate, "/ready")).json() == {"status": "ready"}

    index.unlink()
    passgate.breached.checker.refresh()
    answer = await get(passgate, "/ready")
    assert answer.status_code == 200
    assert answer.json() == {
        "status": "degraded",
        "degraded": {"breached_index": "the index file was deleted; using the loaded one"},
    }


async def test_no_index_and_none_asked_for_is_ready(make: Any, tmp_path: Path) -> None:
    passgate = make(sqlite_url(tmp_path))
    assert passgate.breached.checker.index is None
    assert (await get(passgate, "/ready")).json() == {"status": "ready"}


# -- the runner -------------------------------------------------------------------------


async def test_a_check_runs_at_most_once_at_a_time_and_results_are_reused() -> None:
    calls: list[str] = []
    release = threading.Event()

    def hangs() -> Verdict:
        calls.append("hangs")
        release.wait(10)
        return Verdict("ok")

    def quick() -> Verdict:
        calls.append("quick")
        return Verdict("ok")

    readiness = Readiness(
        [Probe("slow", hangs), Probe("quick", quick)], timeout_s=0.2, max_age_s=60
    )
    try:
        first = await readiness.check()
        second = await readiness.check()
        assert (
            first
            == second
            == (
                503,
                {
                    "status": "unavailable",
                    "reason": "slow: no answer within 0.2 s",
                    "failing": {"slow": "no answer within 0.2 s"},
                },
            )
        )
        assert calls == ["hangs", "quick"]  # neither started again
        release.set()
        await asyncio.sleep(0.1)
        assert await readiness.check() == (200, {"status": "ready"})
        assert calls == ["hangs", "quick"]
    finally:
        release.set()


async def test_a_check_that_raises_is_failing_without_its_message() -> None:
    def broken() -> Verdict:
        raise RuntimeError("postgresql://user:secret@db.internal/passgate")

    status, body = await Readiness([Probe("database", broken)]).check()
    assert status == 503
    assert body["failing"] == {"database": "check failed (RuntimeError)"}
    assert "secret" not in str(body)
