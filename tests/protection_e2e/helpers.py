"""A passgate built in process with attack protection on, as an integrator's app sees it.

Every request comes from the application server (:data:`APP_SERVER_IP`, the TCP peer set
on httpx's ASGI transport); end users are named by ``auth0-forwarded-for`` when the client
is trusted to send it. The clock is a :class:`ManualClock`, so blocks and buckets expire
without sleeping; the mailer keeps what it is given; :class:`HashSpy` counts password
verifications (real argon2 work, decoys for unknown users included).
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from joserfc.jwk import ECKey, RSAKey
from starlette.applications import Starlette

from passgate.app import Passgate, create_app
from passgate.domain.models import Client, SigningKey, User
from passgate.domain.policy import ThrottleStage
from passgate.mail.mailer import OutgoingMail
from passgate.settings import Settings
from passgate.storage.counters import AttackCounters
from passgate.storage.db import make_engine, migrate
from passgate.storage.directory import DEFAULT_CONNECTION
from passgate.storage.schema import metadata
from passgate.storage.setup import open_database
from passgate.storage.tokens import SigningKeys
from passgate.support.passwords import PasswordHasher
from passgate.testing import CapturedEvents, ManualClock, login_key
from tests.support import cheap_settings

ISSUER = "https://passgate.test/"
BASE_URL = "http://passgate.test"
#: The application server: the TCP peer of every in-process request.
APP_SERVER_IP = "203.0.113.9"
#: End users behind the application server.
IP_A = "198.51.100.1"
IP_B = "198.51.100.2"
IP_C = "198.51.100.3"
PASSWORD = "alice's long passphrase 1"
BOB_PASSWORD = "bob's long passphrase 2"
CAROL_PASSWORD = "carol's long passphrase 3"
WRONG = "not the password"


class CollectingMailer:
    """A :class:`~passgate.mail.mailer.Mailer` that keeps every message."""

    def __init__(self) -> None:
        self._sent: list[OutgoingMail] = []
        self._lock = threading.Lock()

    def send(self, message: OutgoingMail) -> None:
        with self._lock:
            self._sent.append(message)

    @property
    def sent(self) -> list[OutgoingMail]:
        with self._lock:
            return list(self._sent)


class HashSpy:
    """Counts calls of :meth:`PasswordHasher.verify` on one hasher."""

    def __init__(self, hasher: PasswordHasher, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self._lock = threading.Lock()
        real = hasher.verify

        def verify(password_hash: str | None, password: str) -> bool:
            with self._lock:
                self.count += 1
            return real(password_hash, password)

        monkeypatch.setattr(hasher, "verify", verify)


@dataclasses.dataclass(frozen=True)
class NamedClient:
    client: Client
    secret: str | None

    @property
    def id(self) -> str:
        return self.client.client_id

    def auth(self) -> tuple[dict[str, str], dict[str, str]]:
        """Form fields and headers that authenticate the client its own way."""
        method = self.client.token_endpoint_auth_method
        if method == "client_secret_basic":
            assert self.secret is not None
            token = base64.b64encode(f"{self.id}:{self.secret}".encode()).decode()
            return {}, {"authorization": f"Basic {token}"}
        if method == "client_secret_post":
            assert self.secret is not None
            return {"client_id": self.id, "client_secret": self.secret}, {}
        return {"client_id": self.id}, {}


Forwarded = str | Sequence[str] | None


@dataclasses.dataclass
class Stack:
    """One passgate, its app, and what the tests log in with."""

    passgate: Passgate
    app: Starlette
    events: CapturedEvents
    clock: ManualClock
    mailer: CollectingMailer
    hashes: HashSpy
    #: client_secret_post, trusted to send auth0-forwarded-for.
    trusted: NamedClient
    #: client_secret_basic, trusted too.
    trusted_basic: NamedClient
    #: client_secret_post, not trusted.
    untrusted: NamedClient
    #: auth method none (a public client cannot be trusted).
    public: NamedClient
    alice: User
    bob: User
    carol: User

    def http(self, peer: str = APP_SERVER_IP) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, client=(peer, 1234)),
            base_url=BASE_URL,
        )

    async def login(
        self,
        http: httpx.AsyncClient,
        username: str,
        password: str,
        *,
        forwarded: Forwarded = None,
        client: NamedClient | None = None,
        extra_headers: Sequence[tuple[str, str]] = (),
    ) -> httpx.Response:
        """A password grant; ``forwarded`` is the auth0-forwarded-for value(s) to send."""
        client = client or self.trusted
        form, auth_headers = client.auth()
        headers: list[tuple[str, str]] = [*auth_headers.items(), *extra_headers]
        if isinstance(forwarded, str):
            headers.append(("auth0-forwarded-for", forwarded))
        elif forwarded is not None:
            headers += [("auth0-forwarded-for", value) for value in forwarded]
        data = {"grant_type": "password", "username": username, "password": password, **form}
        return await http.post("/oauth/token", data=data, headers=headers)

    def set_brute_force(self, **changes: Any) -> None:
        current = self.passgate.policies.get_brute_force()
        self.passgate.policies.set_brute_force(dataclasses.replace(current, **changes))

    def set_suspicious_ip(self, **changes: Any) -> None:
        current = self.passgate.policies.get_suspicious_ip()
        self.passgate.policies.set_suspicious_ip(dataclasses.replace(current, **changes))

    def set_pre_login(self, max_attempts: int, rate_ms: int) -> None:
        self.set_suspicious_ip(pre_login=ThrottleStage(max_attempts=max_attempts, rate=rate_ms))

    def failures(self, identifier: str, ip: str | None) -> int:
        """The stored consecutive-failure count of (identifier, ip), or of the identifier."""
        policy = self.passgate.policies.get_brute_force()
        mode = policy.mode if ip is not None else "count_per_identifier"
        key = login_key(self.passgate.directory, mode, identifier, ip or "")
        return self.passgate.counters.failures(key, now=self.clock())


@functools.cache
def signing_keys() -> tuple[SigningKey, ...]:
    """One RS256 and one ES256 signing key, shared by every stack of the session."""
    made: list[SigningKey] = []
    for alg, key in (
        ("RS256", RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"})),
        ("ES256", ECKey.generate_key("P-256", parameters={"use": "sig", "alg": "ES256"})),
    ):
        private = key.as_dict(private=True)
        private.pop("kid", None)
        record = SigningKey(
            kid=key.thumbprint(),
            alg=alg,
            private_jwk=json.dumps(private),
            created_at=0.0,
            retired_at=None,
        )
        made.append(record)
    return tuple(made)


def truncate(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            for table in reversed(metadata.sorted_tables):
                connection.execute(table.delete())
    finally:
        engine.dispose()


def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'passgate.db'}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    return url


def settings_for(tmp_path: Path, sql_url: str, **overrides: Any) -> Settings:
    return cheap_settings(tmp_path, sql_url, issuer=ISSUER, **overrides)


def build_stack(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    *,
    counters: AttackCounters | None = None,
) -> Stack:
    clock = ManualClock()
    events = CapturedEvents()
    mailer = CollectingMailer()
    engine = open_database(settings)
    try:
        store = SigningKeys(engine)
        for key in signing_keys():  # made once per session: RSA key generation is slow
            store.add(dataclasses.replace(key, created_at=clock()), retire_others=False)
        passgate = Passgate(
            settings, engine=engine, clock=clock, events=events, mailer=mailer, counters=counters
        )
    except BaseException:
        engine.dispose()
        raise
    try:
        apps = passgate.applications

        def client(name: str, method: str, *, trusted: bool) -> NamedClient:
            made, secret = apps.create_client(
                name=name,
                app_type="native" if method == "none" else "regular_web",
                auth_method=method,
                grant_types=["password"],
                trusted=trusted,
            )
            return NamedClient(made, secret)

        def user(email: str, username: str, password: str) -> User:
            return passgate.directory.create_user(
                connection=DEFAULT_CONNECTION,
                email=email,
                username=username,
                password_hash=passgate.hasher.hash(password),
            )

        return Stack(
            passgate=passgate,
            app=create_app(passgate),
            events=events,
            clock=clock,
            mailer=mailer,
            hashes=HashSpy(passgate.hasher, monkeypatch),
            trusted=client("Shop", "client_secret_post", trusted=True),
            trusted_basic=client("Shop (basic)", "client_secret_basic", trusted=True),
            untrusted=client("Legacy shop", "client_secret_post", trusted=False),
            public=client("Mobile app", "none", trusted=False),
            alice=user("alice@example.com", "alice", PASSWORD),
            bob=user("bob@example.com", "bob", BOB_PASSWORD),
            carol=user("carol@example.com", "carol", CAROL_PASSWORD),
        )
    except BaseException:
        passgate.close()
        raise


def delete_redis_prefix(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def fepft_errors(stack: Stack) -> list[str]:
    """The ``error`` code of every ``fepft`` event so far, in order."""
    errors = []
    for event in stack.events.of_type("fepft"):
        error = event.details.get("error")
        errors.append(str(error.get("error")) if isinstance(error, dict) else str(error))
    return errors
