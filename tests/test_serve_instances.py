"""Several ``passgate serve`` instances on one database: one tenant, one issuer.

Real server processes on different ports share a SQLite file or a PostgreSQL schema, as
instances behind a load balancer would.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from tests.processes import cli, free_port, server_env
from tests.support import refusal_lines
from tests.test_serve import PASSWORD, Server, password_login

pytestmark = pytest.mark.slow

API = "https://api.orders.example/"
END_USER_IP = "198.51.100.23"


def new_key() -> str:
    """A key-encryption key in the documented form: 32 random bytes, base64url."""
    return base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()


@pytest.fixture
def shared_env(tmp_path: Path, sql_url: str) -> dict[str, str]:
    """One database (a SQLite file, or a PostgreSQL schema) and one key-encryption key."""
    return server_env(
        tmp_path / "data", PASSGATE_DATABASE_URL=sql_url, PASSGATE_KEY_ENCRYPTION_KEY=new_key()
    )


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    try:
        yield started
    finally:
        for server in started:
            server.kill()


def start(env: dict[str, str], tmp_path: Path, servers: list[Server], name: str) -> str:
    """A ``passgate serve`` on a free port, healthy; its base URL."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/"
    logs = tmp_path / name
    logs.mkdir()
    server = Server(env, logs, "serve", "--port", str(port))
    servers.append(server)
    server.wait_until_healthy(base_url)
    return base_url


def decode(token: str, jwks: dict[str, Any], audience: str | None = None) -> dict[str, Any]:
    key = jwt.PyJWKSet.from_dict(jwks)[jwt.get_unverified_header(token)["kid"]]
    claims: dict[str, Any] = jwt.decode(
        token,
        key=key,
        algorithms=["RS256", "ES256"],
        audience=audience,
        options={"verify_aud": audience is not None},
    )
    return claims


def test_two_instances_publish_one_issuer_and_a_refresh_on_the_other_keeps_iss(
    shared_env: dict[str, str], tmp_path: Path, servers: list[Server]
) -> None:
    env = shared_env
    cli(env, "apis", "create", "--identifier", API, "--scope", "read:orders",
        "--allow-offline-access")  # fmt: skip
    client = cli(
        env, "clients", "create", "--name", "Shop", "--grant", "password",
        "--grant", "refresh_token", "--trust-ip-header",
    )  # fmt: skip
    cli(
        env, "users", "create", "--email", "alice@example.com", "--password-stdin",
        input=PASSWORD + "\n",
    )  # fmt: skip
    first = start(env, tmp_path, servers, "first")
    second = start(env, tmp_path, servers, "second")

    bases = (first, second)
    discovery = [httpx.get(base + ".well-known/openid-configuration").json() for base in bases]
    jwks = [httpx.get(base + ".well-known/jwks.json").json() for base in bases]
    # The first start fixed the issuer (its serving address); the second publishes it too.
    assert discovery[0] == discovery[1]
    assert discovery[0]["issuer"] == first
    assert jwks[0] == jwks[1]

    login = password_login(
        client, "alice@example.com", audience=API, scope="openid offline_access read:orders"
    )
    forwarded = {"auth0-forwarded-for": END_USER_IP}
    obtained = httpx.post(first + "oauth/token", data=login, headers=forwarded)
    assert obtained.status_code == 200, obtained.text
    refresh = {
        "grant_type": "refresh_token",
        "refresh_token": obtained.json()["refresh_token"],
        "client_id": client["client_id"],
        "client_secret": client["client_secret"],
    }
    refreshed = httpx.post(second + "oauth/token", data=refresh, headers=forwarded)
    assert refreshed.status_code == 200, refreshed.text

    for body in (obtained.json(), refreshed.json()):
        assert decode(body["access_token"], jwks[0], API)["iss"] == first
        assert decode(body["id_token"], jwks[0], client["client_id"])["iss"] == first
    for server in servers:
        assert server.stop() == 0
        assert "Traceback" not in server.stderr()


def test_a_start_with_another_issuer_is_refused_with_the_command_that_changes_it(
    shared_env: dict[str, str], tmp_path: Path, servers: list[Server]
) -> None:
    env = {**shared_env, "PASSGATE_ISSUER": "https://auth.example.com"}
    start(env, tmp_path, servers, "first")
    assert servers[0].stop() == 0
    assert cli(env, "issuer", "show") == {"issuer": "https://auth.example.com/"}

    moved = {**env, "PASSGATE_ISSUER": "https://login.example.com/"}
    refused = Server(moved, tmp_path, "serve", "--port", str(free_port()))
    servers.append(refused)
    assert refused.process.wait(timeout=60) == 2
    lines = refusal_lines(refused.stderr())
    assert len(lines) == 1, lines
    assert "PASSGATE_ISSUER" in lines[0]
    assert "https://auth.example.com/" in lines[0]
    assert "passgate issuer set https://login.example.com/" in lines[0]

    # The same issuer with or without its trailing slash is the same issuer.
    again = start({**env, "PASSGATE_ISSUER": "https://auth.example.com/"}, tmp_path, servers, "b")
    document = httpx.get(again + ".well-known/openid-configuration").json()
    assert document["issuer"] == "https://auth.example.com/"
