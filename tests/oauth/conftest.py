"""A passgate built in process on each SQL backend, with clients, APIs and users.

Every test gets a fresh, migrated database (``sql_url``), a :class:`CapturedEvents` sink
and a :class:`ManualClock` set to the wall clock (so that third-party JWT libraries, which
read the real time, accept the tokens). HTTP goes through httpx's ASGI transport.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import argon2
import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette

from passgate.app import Passgate, create_app
from passgate.domain.events import Event
from passgate.domain.models import PASSWORD_REALM, Api, Client, User
from passgate.management.client_grants import NewClientGrant
from passgate.settings import Settings
from passgate.storage.directory import DEFAULT_CONNECTION
from passgate.storage.schema import refresh_tokens, users
from passgate.testing import CapturedEvents, ManualClock
from tests.support import cheap_settings

ISSUER = "https://passgate.test/"
BASE_URL = "http://passgate.test"
PASSWORD = "correct horse battery staple 1"
BOB_PASSWORD = "Tr0ub4dor&3 but longer"
PARTNERS = "Partners"
API = "https://api.passgate.test/"
API_SCOPES = ("read:things", "write:things")
API_NO_OFFLINE = "https://no-offline.passgate.test/"
API_ES256 = "https://es256.passgate.test/"
USER_AGENT = "passgate-tests/1.0"
PEER_IP = "127.0.0.1"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_settings(tmp_path: Path, sql_url: str, **overrides: Any) -> Settings:
    return cheap_settings(tmp_path, sql_url, issuer=ISSUER, **overrides)


@dataclasses.dataclass
class NamedClient:
    client: Client
    secret: str | None

    @property
    def id(self) -> str:
        return self.client.client_id


@dataclasses.dataclass
class World:
    """One passgate and what the tests log in with."""

    passgate: Passgate
    app: Starlette
    events: CapturedEvents
    clock: ManualClock
    api: Api
    api_no_offline: Api
    api_es256: Api
    post: NamedClient  # client_secret_post, password + realm + refresh
    basic: NamedClient  # client_secret_basic, password + realm + refresh
    public: NamedClient  # none, password + refresh
    m2m: NamedClient  # client_secret_post, client_credentials, granted API with all its scopes
    password_only: NamedClient  # client_secret_post, password only (no refresh_token grant)
    alice: User
    bob: User  # in the Partners connection

    def secrets(self) -> list[str]:
        """Every secret value a test may send, to search for in events and logs."""
        values = [PASSWORD, BOB_PASSWORD]
        for named in (self.post, self.basic, self.m2m, self.password_only):
            assert named.secret is not None
            values.append(named.secret)
        return values

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Rows a refused request must never change: users and refresh tokens."""
        with self.passgate.engine.connect() as db:
            return {
                "users": sorted(tuple(row) for row in db.execute(sa.select(users))),
                "refresh_tokens": sorted(
                    tuple(row) for row in db.execute(sa.select(refresh_tokens))
                ),
            }

    def stored_hash(self, user_id: str) -> str:
        with self.passgate.engine.connect() as db:
            value = db.execute(
                sa.select(users.c.password_hash).where(users.c.id == user_id)
            ).scalar_one()
        return str(value)

    def password_form(
        self, client: NamedClient | None = None, /, **extra: str | None
    ) -> dict[str, str]:
        """A password-grant body authenticated with client_secret_post (by default)."""
        client = client or self.post
        form: dict[str, str | None] = {
            "grant_type": "password",
            "username": "alice",
            "password": PASSWORD,
            "client_id": client.id,
        }
        if client.secret is not None and client.client.token_endpoint_auth_method == (
            "client_secret_post"
        ):
            form["client_secret"] = client.secret
        form.update(extra)
        return {key: value for key, value in form.items() if value is not None}


def build_world(passgate: Passgate, events: CapturedEvents, clock: ManualClock) -> World:
    apps = passgate.applications
    api = apps.create_api(
        identifier=API, scopes=API_SCOPES, name="Things", allow_offline_access=True
    )
    api_no_offline = apps.create_api(identifier=API_NO_OFFLINE, scopes=["read:x"])
    api_es256 = apps.create_api(
        identifier=API_ES256, scopes=["read:es"], signing_alg="ES256", allow_offline_access=True
    )
    user_grants = ["password", PASSWORD_REALM, "refresh_token"]

    def client(name: str, app_type: str, method: str, grants: list[str]) -> NamedClient:
        created, secret = apps.create_client(
            name=name, app_type=app_type, auth_method=method, grant_types=grants
        )
        return NamedClient(created, secret)

    passgate.directory.ensure_connection(PARTNERS)
    alice = passgate.directory.create_user(
        connection=DEFAULT_CONNECTION,
        email="Alice@Example.com",
        username="alice",
        name="Alice Liddell",
        email_verified=True,
        password_hash=passgate.hasher.hash(PASSWORD),
    )
    bob = passgate.directory.create_user(
        connection=PARTNERS,
        email="bob@partners.example",
        password_hash=passgate.hasher.hash(BOB_PASSWORD),
    )
    m2m = client("Backend", "non_interactive", "client_secret_post", ["client_credentials"])
    passgate.management.client_grants.create(NewClientGrant(m2m.id, API, API_SCOPES))
    return World(
        passgate=passgate,
        app=create_app(passgate),
        events=events,
        clock=clock,
        api=api,
        api_no_offline=api_no_offline,
        api_es256=api_es256,
        post=client("Web App", "regular_web", "client_secret_post", user_grants),
        basic=client("Basic App", "regular_web", "client_secret_basic", user_grants),
        public=client("Native App", "native", "none", ["password", "refresh_token"]),
        m2m=m2m,
        password_only=client("Old App", "regular_web", "client_secret_post", ["password"]),
        alice=alice,
        bob=bob,
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(float(int(time.time())))


@pytest.fixture
def world(sql_url: str, tmp_path: Path, clock: ManualClock) -> Iterator[World]:
    events = CapturedEvents()
    passgate = Passgate(make_settings(tmp_path, sql_url), clock=clock, events=events)
    try:
        yield build_world(passgate, events, clock)
    finally:
        passgate.close()


def asgi_client(app: Starlette, *, peer: str = PEER_IP) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(peer, 50123)),
        base_url=BASE_URL,
        headers={"User-Agent": USER_AGENT},
    )


@pytest.fixture
async def http(world: World) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(world.app) as client:
        yield client


class VerifyCounter:
    """Counts real argon2 verifications (``argon2.PasswordHasher.verify`` calls)."""

    def __init__(self) -> None:
        self.hashes: list[str] = []

    @property
    def count(self) -> int:
        return len(self.hashes)


@pytest.fixture
def argon2_verifications(monkeypatch: pytest.MonkeyPatch) -> VerifyCounter:
    counter = VerifyCounter()
    real = argon2.PasswordHasher.verify

    def spy(self: argon2.PasswordHasher, hash: str | bytes, password: str | bytes) -> bool:
        counter.hashes.append(hash if isinstance(hash, str) else hash.decode())
        return real(self, hash, password)

    monkeypatch.setattr(argon2.PasswordHasher, "verify", spy)
    return counter


def event_text(events: list[Event]) -> str:
    return "\n".join(json.dumps(event.to_json(), default=str) for event in events)


def assert_oauth_error(
    response: httpx.Response, status: int, error: str, description: str | None = None
) -> Mapping[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "error_description"}, body
    assert body["error"] == error, body
    assert isinstance(body["error_description"], str)
    if description is not None:
        assert body["error_description"] == description
    assert response.headers["cache-control"] == "no-store"
    return dict(body)
