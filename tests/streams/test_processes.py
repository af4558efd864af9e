"""Log streams delivered by real ``passgate serve`` processes to a real receiver process:
``kill -9`` mid-delivery and a restart lose nothing (every event exactly once after
deduplication by ``log_id``, in order), and two instances on one PostgreSQL database
deliver each event once, in order, one at a time, the survivor taking over when the
holder is killed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from passgate.domain.events import Event
from passgate.storage.db import make_engine
from passgate.storage.event_log import EventLog
from passgate.storage.log_streams import LogStreams
from tests.protection_e2e.helpers import truncate
from tests.protection_e2e.servers import Server, cli, running, server_env
from tests.streams.helpers import Receiver, receiving

pytestmark = pytest.mark.slow

DELIVERY = {
    "PASSGATE_LOG_STREAM_BATCH_SIZE": "25",
    "PASSGATE_LOG_STREAM_POLL_S": "0.1",
    "PASSGATE_LOG_STREAM_TIMEOUT_S": "1",
    "PASSGATE_LOG_STREAM_LEASE_S": "3",
    "PASSGATE_LOG_STREAM_RETRY_MAX_S": "1",
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'passgate.db'}"
    url: str = request.getfixturevalue("pg_url")
    truncate(url)
    return url


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    with receiving(tmp_path) as found:
        yield found


def _env(tmp_path: Path, database: str) -> dict[str, str]:
    return server_env(tmp_path / "data", PASSGATE_DATABASE_URL=database, **DELIVERY)


def _log(engine: sa.Engine, count: int, kind: str = "fepft") -> list[str]:
    made = [Event(type=kind, ip="203.0.113.9", details={"n": n}) for n in range(count)]
    EventLog(engine).append(made)
    return [event.log_id for event in made]


def _first_occurrences(ids: list[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def test_kill_9_mid_delivery_then_a_restart_delivers_every_event_once_after_dedupe(
    tmp_path: Path, database: str, receiver: Receiver
) -> None:
    env = _env(tmp_path, database)
    (tmp_path / "data").mkdir(exist_ok=True)
    cli(env, "migrate")
    cli(env, "log-streams", "create", "--name", "r", "--endpoint", receiver.url)
    engine = make_engine(database)
    receiver.slow(0.1)  # a batch in flight most of the time
    try:
        expected = _log(engine, 400)
        server = Server(env, tmp_path / "logs")
        try:
            server.wait_until_healthy()
            assert len(set(receiver.wait_for(100))) >= 100
            server.kill_hard()
        finally:
            server.close()
        at_kill = len(set(receiver.log_ids()))
        assert at_kill < len(expected), "killed too late to be mid-delivery"
        expected += _log(engine, 50, "sepft")
        receiver.slow(None)

        with running(env, tmp_path / "logs"):
            ids = receiver.wait_for(len(expected), timeout=60)
            time.sleep(1)  # anything more would be a repeat
            ids = receiver.log_ids()
    finally:
        engine.dispose()
    assert _first_occurrences(ids) == expected
    assert len(ids) - len(expected) <= 25  # at most the batch in flight, again


def test_two_instances_deliver_each_event_once_in_order_and_the_survivor_takes_over(
    tmp_path: Path, pg_url: str, receiver: Receiver
) -> None:
    truncate(pg_url)
    env = _env(tmp_path, pg_url)
    cli(env, "migrate")
    stream = cli(env, "log-streams", "create", "--name", "r", "--endpoint", receiver.url)
    engine = make_engine(pg_url)
    expected: list[str] = []
    try:
        with running(env, tmp_path / "logs", count=2) as servers:
            for _ in range(6):
                expected += _log(engine, 100)
                time.sleep(0.3)
            ids = receiver.wait_for(len(expected), timeout=60)
            time.sleep(1)
            ids = receiver.log_ids()
            # No duplicate at all: never two deliverers at once while both were alive.
            assert ids == expected

            holder = LogStreams(engine).get(stream["id"])
            assert holder is not None
            assert holder.delivery.lease_owner is not None
            pid = int(holder.delivery.lease_owner.split(":")[-2])
            victim = next(s for s in servers if _owns(s, pid))
            receiver.slow(0.1)
            expected += _log(engine, 300)
            receiver.wait_for(len(expected) - 250, timeout=30)
            victim.kill_hard()
            receiver.slow(None)
            expected += _log(engine, 100, "sepft")
            receiver.wait_for(len(expected), timeout=60)
            time.sleep(1)
            ids = receiver.log_ids()
            survivor = LogStreams(engine).get(stream["id"])
    finally:
        engine.dispose()
    assert _first_occurrences(ids) == expected
    assert len(ids) - len(expected) <= 25
    assert survivor is not None
    assert survivor.delivery.lease_owner != holder.delivery.lease_owner


def _owns(server: Server, pid: int) -> bool:
    """Whether ``pid`` is the server's process or one of its workers."""
    if server.process.pid == pid:
        return True
    try:
        parent = Path(f"/proc/{pid}/stat").read_text().split()[3]
    except OSError:
        return False
    return int(parent) == server.process.pid
