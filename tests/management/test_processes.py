"""The Management API's per-token rate limit held by real processes: two workers of one
server (SQLite), and two servers sharing PostgreSQL and Redis."""

from __future__ import annotations

import collections
import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis

from passgate.domain.management_api import management_audience
from tests.protection_e2e.helpers import truncate
from tests.protection_e2e.servers import Server, cli, running, server_env

pytestmark = pytest.mark.slow

ISSUER = "https://passgate.test/"
#: Calls a minute per token: one back every 20 s, far longer than the burst takes.
LIMIT = 3
REQUESTS = 24


def management_client(
    env: dict[str, str], scopes: tuple[str, ...] = ("read:attack_protection",)
) -> dict[str, str]:
    """The Management API and an M2M client granted ``scopes``, made with the CLI: the
    token request."""
    audience = management_audience(ISSUER)
    client = cli(
        env, "clients", "create", "--name", "Admin", "--app-type", "non_interactive",
        "--grant", "client_credentials",
    )  # fmt: skip
    cli(
        env, "client-grants", "create", "--client-id", client["client_id"],
        "--audience", audience, *(f"--scope={scope}" for scope in scopes),
    )  # fmt: skip
    return {
        "grant_type": "client_credentials",
        "client_id": client["client_id"],
        "client_secret": client["client_secret"],
        "audience": audience,
    }


def burst(servers: list[Server], token: str) -> list[int]:
    """``REQUESTS`` reads released at once, spread over the servers; their statuses."""
    start = threading.Barrier(REQUESTS)

    def one(n: int) -> int:
        with httpx.Client(base_url=servers[n % len(servers)].url, timeout=30.0) as http:
            start.wait(timeout=30)
            answer = http.get(
                "api/v2/attack-protection/brute-force-protection",
                headers={"authorization": f"Bearer {token}"},
            )
            assert answer.headers["x-ratelimit-limit"] == str(LIMIT)
            return answer.status_code

    with ThreadPoolExecutor(REQUESTS) as pool:
        return list(pool.map(one, range(REQUESTS)))


def token_for(server: Server, form: dict[str, str]) -> str:
    answer = httpx.post(server.url + "oauth/token", data=form, timeout=10.0)
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


def test_two_workers_admit_the_limit_once(tmp_path: Path) -> None:
    env = server_env(
        tmp_path / "data", PASSGATE_ISSUER=ISSUER, PASSGATE_MANAGEMENT_RATE_LIMIT=str(LIMIT)
    )
    form = management_client(env)
    with running(env, tmp_path, workers=2) as servers:
        statuses = burst(servers, token_for(servers[0], form))
        assert "Traceback" not in servers[0].stderr()
    assert collections.Counter(statuses) == {200: LIMIT, 429: REQUESTS - LIMIT}


@pytest.mark.postgres
@pytest.mark.redis
def test_two_instances_on_postgres_and_redis_admit_the_limit_once(
    tmp_path: Path, pg_url: str, redis_url: str
) -> None:
    truncate(pg_url)
    env = server_env(
        tmp_path / "data",
        PASSGATE_DATABASE_URL=pg_url,
        PASSGATE_REDIS_URL=redis_url,
        PASSGATE_ISSUER=ISSUER,
        PASSGATE_MANAGEMENT_RATE_LIMIT=str(LIMIT),
    )
    form = management_client(env)
    token = ""
    try:
        with running(env, tmp_path, count=2) as servers:
            token = token_for(servers[0], form)
            statuses = burst(servers, token)
    finally:
        if token:  # the servers keep buckets under the default prefix
            client = redis.Redis.from_url(redis_url)
            key = hashlib.sha256(token.encode()).hexdigest()[:32]
            client.delete(f"passgate:bucket:api:{key}")
            client.close()
    assert collections.Counter(statuses) == {200: LIMIT, 429: REQUESTS - LIMIT}
