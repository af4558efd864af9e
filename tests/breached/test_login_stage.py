"""The breached-password login stage through HTTP (SPEC §5, §7), on SQLite and PostgreSQL.

A tiny corpus is imported into a real index; the token endpoint, the reset page and the
mails are the real ones (mails collected in memory, time on a manual clock).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from starlette.applications import Starlette

from passgate.accounts.service import Accounts
from passgate.app import Passgate, create_app
from passgate.breached import BreachedIndexError, import_corpus
from passgate.breached.gate import BreachedAccountHooks
from passgate.domain.events import Event
from passgate.domain.models import Client, User
from passgate.domain.policy import BreachedPasswordPolicy
from passgate.errors import PASSWORD_LEAKED_MESSAGE
from passgate.mail.mailer import OutgoingMail
from passgate.settings import Settings
from passgate.storage.directory import DEFAULT_CONNECTION
from passgate.storage.schema import pending_notifications
from passgate.testing import CapturedEvents, ManualClock
from passgate.web.dbconnections import dbconnections_routes
from tests.breached.helpers import free_port, hash_lines, sha1_hex, write_lines
from tests.support import TEST_KEY_ENCRYPTION_KEY

pytestmark = pytest.mark.anyio

ISSUER = "https://passgate.test/"
BASE_URL = "http://passgate.test"
LEAKED = "password123-leaked"
SAFE = "a perfectly private passphrase"
TEST_PASSWORD = "AUTH0-TEST-some-password"
NEW_PASSWORD = "another private passphrase"
ADMINS = ["security@example.com", "ops@example.com"]
PEER = "198.51.100.20"


class CollectingMailer:
    """Keeps what it is asked to send (the notifier sends from its own thread)."""

    def __init__(self) -> None:
        self.sent: list[OutgoingMail] = []

    def send(self, message: OutgoingMail) -> None:
        self.sent.append(message)

    def to(self, address: str) -> list[OutgoingMail]:
        return [message for message in self.sent if message.to == address]


def build_index(directory: Path, passwords: dict[str, int], *, with_range: bool = False) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    source = write_lines(directory / "corpus.txt", hash_lines(passwords))
    index = directory / "breached.idx"
    import_corpus([source], index, with_range=with_range)
    return index


def settings_for(data_dir: Path, sql_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": SecretStr(sql_url),
        "argon2_memory_kib": 1024,
        "argon2_time_cost": 1,
        "issuer": ISSUER,
        "hash_workers": 2,
        "key_encryption_key": SecretStr(TEST_KEY_ENCRYPTION_KEY),
    }
    values.update(overrides)
    return Settings(**values)


@dataclasses.dataclass
class World:
    passgate: Passgate
    app: Starlette
    events: CapturedEvents
    mailer: CollectingMailer
    clock: ManualClock
    client: Client
    secret: str

    def form(self, username: str, password: str) -> dict[str, str]:
        return {
            "grant_type": "password",
            "username": username,
            "password": password,
            "client_id": self.client.client_id,
            "client_secret": self.secret,
        }

    def user(self, email: str, password: str) -> User:
        directory = self.passgate.directory
        found = directory.find_by_email(DEFAULT_CONNECTION, email)
        if found is not None:
            return found
        return directory.create_user(
            connection=DEFAULT_CONNECTION,
            email=email,
            password_hash=self.passgate.hasher.hash(password),
            now=self.clock(),
        )

    def fresh(self, user: User) -> User:
        found = self.passgate.directory.get_user(user.id)
        assert found is not None
        return found

    def set_policy(self, **fields: Any) -> None:
        self.passgate.policies.set_breached_password(BreachedPasswordPolicy(**fields))

    def drain(self) -> None:
        self.passgate.breached.notifier.drain()

    def accounts(self) -> Accounts:
        """Sign-up and password reset on this passgate, with the breached stages plugged in."""
        p = self.passgate
        return Accounts(
            users=p.directory,
            hasher=p.hasher,
            tickets=p.tickets,
            mailer=self.mailer,
            events=self.events,
            clients=p.clients.get,
            public_url=p.public_url,
            clock=self.clock,
            hooks=BreachedAccountHooks(p.breached),
        )

    def queued(self) -> list[tuple[str, dict[str, Any]]]:
        with self.passgate.engine.connect() as db:
            rows = db.execute(
                sa.select(pending_notifications.c.kind, pending_notifications.c.payload)
            ).all()
        return [(row.kind, json.loads(row.payload)) for row in rows]


def make_world(data_dir: Path, sql_url: str, **overrides: Any) -> World:
    events = CapturedEvents()
    mailer = CollectingMailer()
    clock = ManualClock()
    passgate = Passgate(
        settings_for(data_dir, sql_url, **overrides), events=events, mailer=mailer, clock=clock
    )
    try:
        client, secret = passgate.applications.create_client(
            name="Web App",
            app_type="regular_web",
            auth_method="client_secret_post",
            grant_types=["password"],
        )
        assert secret is not None
        passgate.tenant.set("admin_emails", ADMINS)
    except BaseException:
        passgate.close()
        raise
    return World(passgate, create_app(passgate), events, mailer, clock, client, secret)


@pytest.fixture
def index(tmp_path: Path) -> Path:
    return build_index(tmp_path / "corpus", {LEAKED: 42})


@pytest.fixture
def world(tmp_path: Path, sql_url: str, index: Path) -> Iterator[World]:
    world = make_world(tmp_path / "data", sql_url, breached_index=index)
    try:
        yield world
    finally:
        world.passgate.close()


def client_for(app: Starlette, peer: str = PEER) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(peer, 50123)), base_url=BASE_URL
    )


async def login(world: World, username: str, password: str, peer: str = PEER) -> httpx.Response:
    async with client_for(world.app, peer) as http:
        return await http.post("/oauth/token", data=world.form(username, password))


def assert_leaked(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == {
        "error": "password_leaked",
        "error_description": PASSWORD_LEAKED_MESSAGE,
    }


def event_dump(events: list[Event]) -> str:
    return json.dumps([event.to_json() for event in events])


def link_in(message: OutgoingMail) -> str:
    return next(word for word in message.text.split() if word.startswith(ISSUER))


# -- refused logins --------------------------------------------------------------------
async def test_an_auth0_test_password_is_refused_and_the_user_marked(world: World) -> None:
    user = world.user("tess@example.com", TEST_PASSWORD)
    response = await login(world, "tess@example.com", TEST_PASSWORD)
    assert_leaked(response)
    assert world.fresh(user).password_leaked
    [leak] = world.events.of_type("pwd_leak")
    assert leak.description == "Breached password"
    assert (leak.ip, leak.client_ip) == (PEER, PEER)
    assert (leak.client_id, leak.client_name) == (world.client.client_id, "Web App")
    assert (leak.user_id, leak.user_name, leak.connection) == (
        user.id,
        "tess@example.com",
        DEFAULT_CONNECTION,
    )
    assert leak.details == {
        "stage": "login",
        "action": "blocked",
        "shields": ["block", "user_notification", "admin_notification"],
        "source": "test",
    }
    [failure] = world.events.of_type("fepft")
    assert failure.details["error"]["error"] == "password_leaked"
    assert not world.events.of_type("sepft")
    assert TEST_PASSWORD not in event_dump(world.events.events)


async def test_a_password_in_the_imported_corpus_is_refused(world: World) -> None:
    user = world.user("lee@example.com", LEAKED)
    assert_leaked(await login(world, "lee@example.com", LEAKED))
    assert world.fresh(user).password_leaked
    [leak] = world.events.of_type("pwd_leak")
    assert leak.details["source"] == "local"
    assert LEAKED not in event_dump(world.events.events)


async def test_a_password_outside_the_corpus_logs_in(world: World) -> None:
    user = world.user("sam@example.com", SAFE)
    response = await login(world, "sam@example.com", SAFE)
    assert response.status_code == 200, response.text
    assert not world.fresh(user).password_leaked
    assert not world.events.of_type("pwd_leak")
    world.drain()
    assert world.mailer.sent == []


async def test_a_disabled_policy_checks_nothing(world: World) -> None:
    world.set_policy(enabled=False)
    world.user("tess@example.com", TEST_PASSWORD)
    response = await login(world, "tess@example.com", TEST_PASSWORD)
    assert response.status_code == 200, response.text
    assert not world.events.of_type("pwd_leak")


async def test_the_mark_outlives_the_corpus_until_the_password_changes(
    world: World, tmp_path: Path, sql_url: str
) -> None:
    user = world.user("lee@example.com", LEAKED)
    assert_leaked(await login(world, "lee@example.com", LEAKED))
    world.passgate.close()
    # The corpus no longer holds the hash: the account stays refused, without a new check.
    smaller = build_index(tmp_path / "corpus2", {"something else": 3})
    later = make_world(tmp_path / "data", sql_url, breached_index=smaller)
    try:
        assert_leaked(await login(later, "lee@example.com", LEAKED))
        assert not later.events.of_type("pwd_leak")
        later.passgate.directory.set_password(user.id, later.passgate.hasher.hash(NEW_PASSWORD))
        response = await login(later, "lee@example.com", NEW_PASSWORD)
        assert response.status_code == 200, response.text
    finally:
        later.passgate.close()


# -- notifications ---------------------------------------------------------------------
async def test_the_user_email_holds_a_working_reset_link(world: World) -> None:
    world.user("lee@example.com", LEAKED)
    assert_leaked(await login(world, "lee@example.com", LEAKED))
    world.drain()
    [mail] = world.mailer.to("lee@example.com")
    assert "logins with this password are refused until you choose a new one" in mail.text
    assert LEAKED not in mail.text
    link = link_in(mail)
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == ISSUER + "reset-password"
    ticket = parse_qs(parts.query)["ticket"][0]

    pages = Starlette(routes=dbconnections_routes(world.accounts()))
    async with client_for(pages) as http:
        form = await http.get("/reset-password", params={"ticket": ticket})
        assert form.status_code == 200
        assert "lee@example.com" in form.text
        done = await http.post(
            "/reset-password",
            data={"ticket": ticket, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
        )
        assert done.status_code == 200, done.text
        assert "Password changed" in done.text
    old = await login(world, "lee@example.com", LEAKED)
    assert old.json()["error"] == "invalid_grant"
    response = await login(world, "lee@example.com", NEW_PASSWORD)
    assert response.status_code == 200, response.text


async def test_administrators_are_emailed_immediately(world: World) -> None:
    world.user("lee@example.com", LEAKED)
    assert_leaked(await login(world, "lee@example.com", LEAKED))
    world.drain()
    for address in ADMINS:
        [alert] = world.mailer.to(address)
        assert "breached password" in alert.subject
        assert "lee@example.com" in alert.text
        assert PEER in alert.text
        assert "refused" in alert.text
        assert LEAKED not in alert.text
    assert world.queued() == []


async def test_without_block_the_login_goes_through_and_is_reported(world: World) -> None:
    world.set_policy(shields=["admin_notification"])
    user = world.user("lee@example.com", LEAKED)
    response = await login(world, "lee@example.com", LEAKED)
    assert response.status_code == 200, response.text
    assert not world.fresh(user).password_leaked
    [leak] = world.events.of_type("pwd_leak")
    assert leak.details["action"] == "allowed"
    assert world.events.of_type("sepft")
    world.drain()
    assert world.mailer.to("lee@example.com") == []  # no user_notification shield
    [alert] = world.mailer.to(ADMINS[0])
    assert "allowed (monitoring only)" in alert.text


async def test_no_shields_is_monitoring_only(world: World) -> None:
    world.set_policy(shields=[])
    world.user("lee@example.com", LEAKED)
    response = await login(world, "lee@example.com", LEAKED)
    assert response.status_code == 200, response.text
    assert len(world.events.of_type("pwd_leak")) == 1
    world.drain()
    assert world.mailer.sent == []


async def test_events_and_emails_at_most_once_an_hour_per_ip(world: World) -> None:
    world.set_policy(shields=["user_notification", "admin_notification"])
    world.user("lee@example.com", LEAKED)

    async def logins(peer: str = PEER) -> None:
        response = await login(world, "lee@example.com", LEAKED, peer)
        assert response.status_code == 200, response.text

    await logins()
    await logins()
    world.clock.advance(3599)
    await logins()
    assert len(world.events.of_type("pwd_leak")) == 1
    await logins("203.0.113.9")
    assert [event.ip for event in world.events.of_type("pwd_leak")] == [PEER, "203.0.113.9"]
    world.clock.advance(2)
    await logins()
    assert [event.ip for event in world.events.of_type("pwd_leak")] == [
        PEER,
        "203.0.113.9",
        PEER,
    ]
    world.drain()
    assert len(world.mailer.to("lee@example.com")) == 3
    assert len(world.mailer.to(ADMINS[0])) == 3


async def test_events_are_limited_per_ip_not_per_refusal(world: World) -> None:
    """SPEC §5: at most one event an hour per IP; every breached login is still refused
    and its account marked."""
    world.set_policy(shields=["block"])
    world.user("lee@example.com", LEAKED)
    kim = world.user("kim@example.com", LEAKED)
    assert_leaked(await login(world, "lee@example.com", LEAKED))
    assert_leaked(await login(world, "kim@example.com", LEAKED))
    assert [event.user_name for event in world.events.of_type("pwd_leak")] == ["lee@example.com"]
    marked = world.passgate.directory.get_user(kim.id)
    assert marked is not None
    assert marked.password_leaked
    world.user("ann@example.com", LEAKED)
    assert_leaked(await login(world, "ann@example.com", LEAKED, peer="198.51.100.21"))
    assert [event.user_name for event in world.events.of_type("pwd_leak")] == [
        "lee@example.com",
        "ann@example.com",
    ]


async def test_a_digest_frequency_queues_instead_of_sending(world: World) -> None:
    world.set_policy(
        admin_notification_frequency=["daily", "weekly"], shields=["block", "admin_notification"]
    )
    user = world.user("lee@example.com", LEAKED)
    assert_leaked(await login(world, "lee@example.com", LEAKED))
    world.drain()
    assert world.mailer.sent == []
    queued = world.queued()
    assert sorted(kind for kind, _ in queued) == ["breached:daily", "breached:weekly"]
    for _, payload in queued:
        assert payload["user_id"] == user.id
        assert payload["ip"] == PEER
        assert payload["blocked"] is True
    notifier = world.passgate.breached.notifier
    assert notifier.send_due_digests(world.clock()) == []
    world.clock.advance(86400)
    assert notifier.send_due_digests(world.clock()) == ["daily"]
    assert notifier.send_due_digests(world.clock() + 60) == []
    [digest] = world.mailer.to(ADMINS[0])
    assert "daily digest" in digest.subject
    assert "lee@example.com" in digest.text
    assert [kind for kind, _ in world.queued()] == ["breached:weekly"]


# -- the upstream range API ------------------------------------------------------------
async def test_an_unreachable_upstream_with_refuse_answers_503_and_changes_nothing(
    tmp_path: Path, sql_url: str
) -> None:
    world = make_world(
        tmp_path / "data",
        sql_url,
        breached_range_url=f"http://127.0.0.1:{free_port()}/range/",
        breached_upstream_unavailable="refuse",
        breached_range_timeout=1.0,
    )
    try:
        user = world.user("sam@example.com", SAFE)
        response = await login(world, "sam@example.com", SAFE)
        assert response.status_code == 503, response.text
        assert response.json()["error"] == "temporarily_unavailable"
        assert not world.fresh(user).password_leaked
        assert not world.events.of_type("pwd_leak", "sepft")
        [failure] = world.events.of_type("fepft")
        assert failure.details["error"]["error"] == "temporarily_unavailable"
        world.drain()
        assert world.mailer.sent == []
        assert world.queued() == []
    finally:
        world.passgate.close()


async def test_an_unreachable_upstream_with_allow_lets_the_login_through(
    tmp_path: Path, sql_url: str
) -> None:
    world = make_world(
        tmp_path / "data",
        sql_url,
        breached_range_url=f"http://127.0.0.1:{free_port()}/range/",
        breached_upstream_unavailable="allow",
        breached_range_timeout=1.0,
    )
    try:
        world.user("sam@example.com", SAFE)
        response = await login(world, "sam@example.com", SAFE)
        assert response.status_code == 200, response.text
    finally:
        world.passgate.close()


# -- the range endpoint ----------------------------------------------------------------
@pytest.mark.parametrize("enabled", [True, False])
async def test_the_range_endpoint_is_mounted_only_when_enabled(
    tmp_path: Path, sql_url: str, enabled: bool
) -> None:
    index = build_index(tmp_path / "corpus", {LEAKED: 42}, with_range=True)
    world = make_world(
        tmp_path / "data", sql_url, breached_index=index, breached_range_enabled=enabled
    )
    try:
        digest = sha1_hex(LEAKED)
        async with client_for(world.app) as http:
            response = await http.get(f"/range/{digest[:5]}")
            # Never a redirect built from a Host header the client chose.
            slash = await http.get(f"/range/{digest[:5]}/", headers={"host": "evil.example"})
        assert slash.status_code == 404
        assert "location" not in slash.headers
        if enabled:
            assert response.status_code == 200
            assert f"{digest[5:]}:42" in response.text.splitlines()
        else:
            assert response.status_code == 404
    finally:
        world.passgate.close()


def test_the_range_endpoint_needs_an_index(tmp_path: Path, sql_url: str) -> None:
    settings = settings_for(
        tmp_path / "data",
        sql_url,
        breached_index=tmp_path / "missing.idx",
        breached_range_enabled=True,
    )
    with pytest.raises(BreachedIndexError, match=r"missing\.idx"):
        Passgate(settings, events=CapturedEvents(), mailer=CollectingMailer())
