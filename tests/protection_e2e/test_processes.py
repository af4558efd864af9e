"""Brute-force limits held by real processes: workers, instances, a kill -9.

SPEC §3 (ours): exactly ``max_attempts`` password verifications happen for a pair before
its block, however many requests arrive at once and whichever worker or instance answers
them. Verifications are counted from the event log: a ``fepft`` whose error is
``invalid_grant`` verified a password; ``too_many_attempts`` was refused without one.
"""

from __future__ import annotations

import collections
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.protection_e2e.helpers import truncate
from tests.protection_e2e.servers import Server, cli, running, server_env

pytestmark = pytest.mark.slow

PASSWORD = "a long and private passphrase"
REQUESTS = 60


def setup_login(env: dict[str, str], email: str) -> dict[str, str]:
    """A trusted client and a user, made with the CLI; the login form (wrong password)."""
    client = cli(
        env, "clients", "create", "--name", "Shop", "--grant", "password", "--trust-ip-header"
    )
    cli(env, "users", "create", "--email", email, "--password-stdin", input=PASSWORD + "\n")
    return {
        "grant_type": "password",
        "username": email,
        "password": "wrong " + secrets.token_hex(4),
        "client_id": client["client_id"],
        "client_secret": client["client_secret"],
    }


def burst(servers: list[Server], form: dict[str, str], end_user_ip: str) -> list[int]:
    """``REQUESTS`` logins released at once, spread over the servers; their statuses."""
    start = threading.Barrier(REQUESTS)

    def one(n: int) -> int:
        with httpx.Client(base_url=servers[n % len(servers)].url, timeout=30.0) as http:
            start.wait(timeout=30)
            answer = http.post(
                "oauth/token", data=form, headers={"auth0-forwarded-for": end_user_ip}
            )
            return answer.status_code

    with ThreadPoolExecutor(REQUESTS) as pool:
        return list(pool.map(one, range(REQUESTS)))


def login_events(env: dict[str, str]) -> tuple[collections.Counter[str], int]:
    """How many fepft events carry each error code, and how many limit_wc there are."""
    events: list[dict[str, Any]] = cli(
        env, "logs", "--type", "fepft", "--type", "limit_wc", "--limit", "1000"
    )
    errors = collections.Counter(
        str(event["details"]["error"]["error"]) for event in events if event["type"] == "fepft"
    )
    return errors, sum(event["type"] == "limit_wc" for event in events)


def test_sixty_concurrent_wrong_passwords_verify_ten_times_across_three_workers(
    tmp_path: Path,
) -> None:
    env = server_env(tmp_path / "data")
    form = setup_login(env, "alice@example.com")

    with running(env, tmp_path, workers=3) as servers:
        statuses = burst(servers, form, "198.51.100.23")
        right = httpx.post(
            servers[0].url + "oauth/token",
            data={**form, "password": PASSWORD},
            headers={"auth0-forwarded-for": "198.51.100.23"},
            timeout=10.0,
        )
        servers[0].stop()  # drains the buffered events
        assert "Traceback" not in servers[0].stderr()

    assert collections.Counter(statuses) == {403: 10, 429: REQUESTS - 10}
    assert right.status_code == 429
    errors, blocks_started = login_events(env)
    assert errors == {"invalid_grant": 10, "too_many_attempts": REQUESTS - 10 + 1}
    assert blocks_started == 1
    # One unblock email, whichever worker saw the tenth failure.
    assert len(list((tmp_path / "data" / "outbox").glob("*.eml"))) == 1


def forget_in_redis(url: str, identifier: str, ip: str) -> None:
    """Delete what the servers (default key prefix) stored for this test's pair."""
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        for pattern in (f"passgate:*{identifier}*", f"passgate:*{ip}*"):
            for key in client.scan_iter(match=pattern, count=1000):
                client.delete(key)
        for member, _ in client.zscan_iter("passgate:la-recent", match=f"*{identifier}*"):
            client.zrem("passgate:la-recent", member)
    finally:
        client.close()


@pytest.mark.postgres
@pytest.mark.redis
def test_two_instances_sharing_postgres_and_redis_verify_ten_times(
    tmp_path: Path, pg_url: str, redis_url: str
) -> None:
    truncate(pg_url)
    env = server_env(tmp_path / "data", PASSGATE_DATABASE_URL=pg_url, PASSGATE_REDIS_URL=redis_url)
    email = f"alice-{secrets.token_hex(4)}@example.com"
    ip = f"198.18.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"
    form = setup_login(env, email)
    try:
        with running(env, tmp_path, count=2) as servers:
            statuses = burst(servers, form, ip)
            for server in servers:
                right = httpx.post(
                    server.url + "oauth/token",
                    data={**form, "password": PASSWORD},
                    headers={"auth0-forwarded-for": ip},
                    timeout=10.0,
                )
                assert right.status_code == 429, right.text
            for server in servers:
                server.stop()
    finally:
        forget_in_redis(redis_url, email, ip)

    assert collections.Counter(statuses) == {403: 10, 429: REQUESTS - 10}
    errors, blocks_started = login_events(env)
    assert errors == {"invalid_grant": 10, "too_many_attempts": REQUESTS - 10 + 2}
    assert blocks_started == 1


def test_a_block_survives_kill_9_and_a_restart(tmp_path: Path) -> None:
    env = server_env(tmp_path / "data")
    form = setup_login(env, "alice@example.com")
    right = {**form, "password": PASSWORD}

    def post(server: Server, data: dict[str, str], ip: str) -> int:
        answer = httpx.post(
            server.url + "oauth/token",
            data=data,
            headers={"auth0-forwarded-for": ip},
            timeout=10.0,
        )
        return answer.status_code

    with running(env, tmp_path) as (server,):
        assert [post(server, form, "198.51.100.23") for _ in range(10)] == [403] * 10
        assert post(server, right, "198.51.100.23") == 429
        server.kill_hard()

    with running(env, tmp_path) as (server,):
        assert post(server, right, "198.51.100.23") == 429
        assert post(server, right, "198.51.100.24") == 200
