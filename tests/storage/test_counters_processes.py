"""Counters shared by real OS processes: the reservation limit holds across workers and
instances, and SQLite counts survive reopening the database."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from passgate.domain.brute_force import PER_IDENTIFIER_AND_IP, attempt_key
from passgate.storage.counters import AttackCounters
from passgate.storage.counters_redis import RedisCounters
from passgate.storage.counters_sql import SqlCounters
from passgate.storage.db import make_engine, migrate
from passgate.storage.schema import ip_buckets, login_attempts, once_marks

pytestmark = pytest.mark.slow

PROCESSES = 6
TRIES = 20
MAX_ATTEMPTS = 10
T0 = 1_800_000_000.0

# Each worker reserves TRIES times on one key, recording a failure after each granted
# reservation (as a login with a wrong password does), and prints what it was granted.
WORKER = """
import json, os, sys, time
from passgate.domain.brute_force import attempt_key
from passgate.storage.backends import open_counters

url, prefix, go, max_attempts, tries, now = sys.argv[1:7]
counters = open_counters(url, prefix=prefix)
key = attempt_key(
    "count_per_identifier_and_ip", "Username-Password-Authentication",
    "victim@example.com", "203.0.113.7",
)
print("ready", flush=True)
while not os.path.exists(go):
    time.sleep(0.001)
granted = 0
for _ in range(int(tries)):
    if counters.reserve_attempt(key, max_attempts=int(max_attempts), now=float(now)).allowed:
        granted += 1
        counters.record_failure(key, now=float(now))
print(json.dumps({"granted": granted}), flush=True)
"""


@contextmanager
def opened(url: str, prefix: str) -> Iterator[AttackCounters]:
    if url.startswith("redis"):
        backend = RedisCounters.from_url(url, prefix=prefix)
        try:
            yield backend
        finally:
            backend.close()
        return
    engine = make_engine(url)
    try:
        yield SqlCounters(engine)
    finally:
        engine.dispose()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("redis", marks=pytest.mark.redis),
    ]
)
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(url, key prefix) of an empty counters backend."""
    if request.param == "redis":
        url: str = request.getfixturevalue("redis_url")
        prefix = f"passgate-test:{secrets.token_hex(6)}:"
        yield url, prefix
        client = redis.Redis.from_url(url)
        for name in client.scan_iter(match=f"{prefix}*"):
            client.delete(name)
        client.close()
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'counters.db'}"
        engine = make_engine(url)
        migrate(engine)
    else:
        url = request.getfixturevalue("pg_url")
        engine = make_engine(url)
        with engine.begin() as connection:
            for table in (login_attempts, ip_buckets, once_marks):
                connection.execute(table.delete())
    engine.dispose()
    yield url, "passgate:"


def test_concurrent_processes_get_exactly_max_attempts(
    backend_url: tuple[str, str], tmp_path: Path
) -> None:
    url, prefix = backend_url
    go = tmp_path / "go"
    args = [url, prefix, str(go), str(MAX_ATTEMPTS), str(TRIES), repr(T0)]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == "ready"
        go.touch()  # all start together
        results = []
        for worker in workers:
            out, err = worker.communicate(timeout=120)
            assert worker.returncode == 0, err
            results.append(json.loads(out)["granted"])
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()

    assert sum(results) == MAX_ATTEMPTS, results
    connection, victim = "Username-Password-Authentication", "victim@example.com"
    key = attempt_key(PER_IDENTIFIER_AND_IP, connection, victim, "203.0.113.7")
    with opened(url, prefix) as counters:
        assert counters.failures(key, now=T0) == MAX_ATTEMPTS
        assert not counters.reserve_attempt(key, max_attempts=MAX_ATTEMPTS, now=T0).allowed


def test_sqlite_counts_survive_reopening(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'durable.db'}"
    key = attempt_key(PER_IDENTIFIER_AND_IP, "db", "alice", "192.0.2.1")
    engine = make_engine(url)
    migrate(engine)
    counters = SqlCounters(engine)
    for _ in range(3):
        assert counters.reserve_attempt(key, max_attempts=3, now=T0).allowed
        counters.record_failure(key, now=T0)
    assert counters.take_token("192.0.2.1", "pre-login", capacity=1, rate_s=60.0, now=T0)
    assert counters.once("mail:192.0.2.1", ttl_s=3600, now=T0)
    engine.dispose()

    engine = make_engine(url)
    try:
        reopened = SqlCounters(engine)
        assert reopened.failures(key, now=T0 + 1) == 3
        assert not reopened.reserve_attempt(key, max_attempts=3, now=T0 + 1).allowed
        assert [b.identifier for b in reopened.list_blocks(None, max_attempts=3, now=T0)] == [
            "alice"
        ]
        assert not reopened.take_token("192.0.2.1", "pre-login", capacity=1, rate_s=60.0, now=T0)
        assert not reopened.once("mail:192.0.2.1", ttl_s=3600, now=T0 + 1)
    finally:
        engine.dispose()
