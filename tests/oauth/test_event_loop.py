"""Blocking work stays off the event loop, also when the request chooses what is read.

Every SQL statement is recorded with the thread that ran it (a SQLAlchemy engine event),
every signature and verification with the thread that made it; the event loop's thread is
the test's own (httpx's ASGI transport runs the app on it). Floods of random
``client_id``, ``realm`` and ``audience`` values, refresh and client-credentials grants,
``/userinfo`` (with a key reload due) and ``/range`` must leave nothing on that thread.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

import passgate.storage.applications as applications_module
from passgate.app import Passgate, create_app
from passgate.breached.importer import import_corpus
from passgate.breached.index import BreachedIndex
from passgate.domain.models import PASSWORD_REALM
from passgate.testing import CapturedEvents
from tests.breached.helpers import hash_lines, sha1_hex, write_lines
from tests.oauth.conftest import (
    API,
    PARTNERS,
    PASSWORD,
    World,
    asgi_client,
    assert_oauth_error,
    make_settings,
)

pytestmark = pytest.mark.anyio

TOKEN = "/oauth/token"
#: Longest a change made by the CLI may take to be seen (README).
SEEN_WITHIN_S = 2.0


class Threads:
    """The thread of each SQL statement and of each recorded call."""

    def __init__(self) -> None:
        self.sql: list[tuple[int, str]] = []
        self.calls: list[tuple[int, str]] = []

    def on_loop(self, loop_thread: int) -> list[str]:
        """What ran on ``loop_thread``: statements and calls."""
        return [what for thread, what in (*self.sql, *self.calls) if thread == loop_thread]

    def statements(self, fragment: str) -> list[str]:
        return [sql for _, sql in self.sql if fragment in sql]

    def named(self, name: str) -> list[int]:
        return [thread for thread, what in self.calls if what == name]

    def spy(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def recorded(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((threading.get_ident(), name))
            return real(*args, **kwargs)

        return recorded


def watch(passgate: Passgate, monkeypatch: pytest.MonkeyPatch) -> Iterator[Threads]:
    threads = Threads()

    def before_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        threads.sql.append((threading.get_ident(), statement))

    sa.event.listen(passgate.engine, "before_cursor_execute", before_execute)
    keys = passgate.keys
    monkeypatch.setattr(keys, "sign", threads.spy("sign", keys.sign))
    monkeypatch.setattr(keys, "verify", threads.spy("verify", keys.verify))
    try:
        yield threads
    finally:
        sa.event.remove(passgate.engine, "before_cursor_execute", before_execute)


@pytest.fixture
def threads(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Threads]:
    yield from watch(world.passgate, monkeypatch)


def random_value(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(12)


# -- lookups chosen by the request -----------------------------------------------------


async def test_a_flood_of_random_client_ids_reads_off_the_loop(
    world: World, http: httpx.AsyncClient, threads: Threads
) -> None:
    loop_thread = threading.get_ident()
    forms: list[dict[str, str]] = []
    for grant in ("password", PASSWORD_REALM, "client_credentials", "refresh_token"):
        for _ in range(5):
            forms.append(
                {
                    "grant_type": grant,
                    "client_id": random_value(),
                    "client_secret": "s",
                    "username": "alice",
                    "password": "x",
                    "realm": PARTNERS,
                    "audience": API,
                    "refresh_token": "r",
                }
            )
    for form in forms:
        assert_oauth_error(await http.post(TOKEN, data=form), 401, "invalid_client")
    for _ in range(5):  # HTTP Basic, and the revocation endpoint
        response = await http.post(
            TOKEN, data={"grant_type": "password"}, auth=(random_value(), "secret")
        )
        assert_oauth_error(response, 401, "invalid_client")
        response = await http.post(
            "/oauth/revoke", data={"token": "t", "client_id": random_value()}
        )
        assert_oauth_error(response, 401, "invalid_client")
    assert len(threads.statements("FROM clients")) >= len(forms) + 10
    assert threads.on_loop(loop_thread) == []


async def test_a_flood_of_random_realms_and_audiences_reads_off_the_loop(
    world: World, http: httpx.AsyncClient, threads: Threads
) -> None:
    loop_thread = threading.get_ident()
    for _ in range(10):
        form = world.password_form(grant_type=PASSWORD_REALM, realm=random_value())
        assert_oauth_error(await http.post(TOKEN, data=form), 400, "invalid_request")
        form = world.password_form(audience=random_value("https://"))
        assert_oauth_error(await http.post(TOKEN, data=form), 403, "access_denied")
        assert world.m2m.secret is not None
        form = {
            "grant_type": "client_credentials",
            "client_id": world.m2m.id,
            "client_secret": world.m2m.secret,
            "audience": random_value("https://"),
        }
        assert_oauth_error(await http.post(TOKEN, data=form), 403, "access_denied")
    assert len(threads.statements("FROM connections")) >= 10
    assert len(threads.statements("FROM apis")) >= 20
    assert threads.on_loop(loop_thread) == []


@pytest.mark.parametrize("past", [0, 1], ids=["at-limit", "past-limit"])
async def test_a_key_longer_than_any_stored_one_is_not_looked_up(
    world: World, http: httpx.AsyncClient, threads: Threads, past: int
) -> None:
    """client_id up to 128, realm up to 128 (a connection's name), audience up to 600
    characters (an API's identifier): longer ones name nothing and cost no read."""
    client_id = "é" * (128 + past)
    response = await http.post(TOKEN, data={"grant_type": "password", "client_id": client_id})
    assert_oauth_error(response, 401, "invalid_client")
    realm = "R" * (128 + past)
    form = world.password_form(grant_type=PASSWORD_REALM, realm=realm)
    response = await http.post(TOKEN, data=form)
    assert_oauth_error(response, 400, "invalid_request", f"Unknown realm: {'R' * 128}")
    audience = "https://" + "a" * (592 + past)
    response = await http.post(TOKEN, data=world.password_form(audience=audience))
    if past:
        assert_oauth_error(response, 400, "invalid_request", "The audience parameter is too long")
    else:
        assert_oauth_error(response, 403, "access_denied", f"Service not found: {audience}")
    # Besides the long keys that may exist: World.post's client and the default directory.
    assert len(threads.statements("FROM clients")) == 1 + 1 - past
    assert len(threads.statements("FROM connections")) == 1 + 1 - past
    assert len(threads.statements("FROM apis")) == 1 - past


async def test_a_client_not_allowed_the_grant_costs_no_realm_or_audience_read(
    world: World, http: httpx.AsyncClient, threads: Threads
) -> None:
    form = world.password_form(
        world.password_only, grant_type=PASSWORD_REALM, realm=random_value(), audience=API
    )
    response = await http.post(TOKEN, data=form)
    assert_oauth_error(response, 403, "unauthorized_client")
    assert threads.statements("FROM connections") == []
    assert threads.statements("FROM apis") == []


async def test_uncached_client_realm_and_audience_take_one_hop_together(
    world: World, http: httpx.AsyncClient, threads: Threads, monkeypatch: pytest.MonkeyPatch
) -> None:
    passgate = world.passgate
    # Records no request has named yet: none is cached.
    client, secret = passgate.applications.create_client(
        name="Fresh",
        app_type="regular_web",
        auth_method="client_secret_post",
        grant_types=[PASSWORD_REALM],
    )
    assert secret is not None
    passgate.directory.ensure_connection("Fresh-Connection")
    passgate.applications.create_api(identifier="https://fresh.example/", scopes=["read:x"])
    threads.sql.clear()
    hops: list[str] = []
    real_submit = passgate.io_pool.submit

    def submit(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        hops.append(repr(fn))
        return real_submit(fn, *args, **kwargs)

    monkeypatch.setattr(passgate.io_pool, "submit", submit)
    form = {
        "grant_type": PASSWORD_REALM,
        "client_id": client.client_id,
        "client_secret": secret,
        "realm": "Fresh-Connection",
        "audience": "https://fresh.example/",
        "username": "nobody@example.com",
        "password": "x",
    }
    assert_oauth_error(await http.post(TOKEN, data=form), 403, "invalid_grant")
    assert len(hops) == 1, hops
    for table in ("clients", "connections", "apis"):
        assert len(threads.statements(f"FROM {table}")) == 1, table
    # Now cached: the next request needs no hop to the I/O pool at all.
    assert_oauth_error(await http.post(TOKEN, data=form), 403, "invalid_grant")
    assert len(hops) == 1, hops


@pytest.mark.parametrize("kind", ["client", "realm", "audience"])
async def test_an_unknown_record_is_read_once_then_seen_within_2_s_of_its_creation(
    world: World,
    http: httpx.AsyncClient,
    threads: Threads,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    passgate = world.passgate
    name = {"client": "AbsentClient0123456789", "realm": "Later", "audience": "https://later/"}[
        kind
    ]
    if kind == "client":
        form = {"grant_type": "password", "client_id": name, "username": "alice"}
        form["password"] = PASSWORD
        expected = (401, "invalid_client")
    elif kind == "realm":
        form = world.password_form(grant_type=PASSWORD_REALM, realm=name)
        expected = (400, "invalid_request")
    else:
        form = world.password_form(audience=name)
        expected = (403, "access_denied")
    table = {"client": "FROM clients", "realm": "FROM connections", "audience": "FROM apis"}[kind]
    for _ in range(5):
        assert_oauth_error(await http.post(TOKEN, data=form), *expected)
    assert len(threads.statements(table)) == 1  # the negative answer is cached

    if kind == "client":
        monkeypatch.setattr(applications_module, "_new_client_id", lambda: name)
        _, secret = passgate.applications.create_client(
            name="Late", app_type="native", auth_method="none", grant_types=["password"]
        )
        assert secret is None
    elif kind == "realm":
        passgate.directory.ensure_connection(name)
    else:
        passgate.applications.create_api(identifier=name, scopes=["read:x"])
    # Alice is not in the new connection: a wrong password there, not an unknown realm.
    seen = 403 if kind == "realm" else 200
    created = time.monotonic()
    while True:
        response = await http.post(TOKEN, data=form)
        if response.status_code == seen:
            break
        assert (response.status_code, response.json()["error"]) == expected
        assert time.monotonic() - created < SEEN_WITHIN_S, "not seen within 2 s"
        await asyncio.sleep(0.05)


# -- protection policies ---------------------------------------------------------------


async def test_policies_are_read_from_memory_when_a_cache_would_have_expired(
    world: World, http: httpx.AsyncClient, threads: Threads
) -> None:
    """A remembered refusal makes the loop itself consult the policies (``refuse_early``):
    however much time has passed, that is a memory read, never a query."""
    loop_thread = threading.get_ident()
    policies = world.passgate.policies
    policies.set_brute_force(replace(policies.get_brute_force(), max_attempts=1))
    wrong = world.password_form(password="not the password")
    assert_oauth_error(await http.post(TOKEN, data=wrong), 403, "invalid_grant")
    assert_oauth_error(await http.post(TOKEN, data=wrong), 429, "too_many_attempts")
    for _ in range(3):
        world.clock.advance(2.0)  # past any cache of the policies
        threads.sql.clear()
        assert_oauth_error(await http.post(TOKEN, data=wrong), 429, "too_many_attempts")
        assert threads.on_loop(loop_thread) == []
    assert threads.statements("tenant_settings") == []


# -- signing, verification and key reloads --------------------------------------------


async def test_refresh_and_client_credentials_sign_off_the_loop(
    world: World, http: httpx.AsyncClient, threads: Threads
) -> None:
    loop_thread = threading.get_ident()
    form = world.password_form(audience=API, scope="openid offline_access")
    first = await http.post(TOKEN, data=form)
    assert first.status_code == 200, first.text
    assert world.post.secret is not None
    before = len(threads.named("sign"))
    refreshed = await http.post(
        TOKEN,
        data={
            "grant_type": "refresh_token",
            "client_id": world.post.id,
            "client_secret": world.post.secret,
            "refresh_token": first.json()["refresh_token"],
        },
    )
    assert refreshed.status_code == 200, refreshed.text
    assert set(refreshed.json()) >= {"access_token", "id_token", "refresh_token"}
    assert world.m2m.secret is not None
    machine = await http.post(
        TOKEN,
        data={
            "grant_type": "client_credentials",
            "client_id": world.m2m.id,
            "client_secret": world.m2m.secret,
            "audience": API,
        },
    )
    assert machine.status_code == 200, machine.text
    assert len(threads.named("sign")) - before == 3  # access + ID token, then one more
    assert threads.on_loop(loop_thread) == []


async def test_userinfo_reloads_keys_and_verifies_off_the_loop(
    world: World, http: httpx.AsyncClient, threads: Threads
) -> None:
    loop_thread = threading.get_ident()
    login = await http.post(TOKEN, data=world.password_form(scope="openid profile"))
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    world.passgate.keys._loaded_at = float("-inf")  # a reload is due
    threads.sql.clear()
    response = await http.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert response.json()["sub"] == world.alice.id
    assert threads.statements("FROM signing_keys"), "the keys were not reloaded"
    assert threads.named("verify")
    assert threads.on_loop(loop_thread) == []
    # A bad token is refused the same way, also off the loop.
    world.passgate.keys._loaded_at = float("-inf")
    refused = await http.get("/userinfo", headers={"Authorization": "Bearer not.a.token"})
    assert refused.status_code == 401
    assert threads.on_loop(loop_thread) == []


async def test_range_reads_the_index_off_the_loop(
    tmp_path: Path, sql_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = write_lines(tmp_path / "corpus.txt", hash_lines({"hunter2": 17}))
    index = tmp_path / "breached.idx"
    import_corpus([corpus], index, with_range=True)
    settings = make_settings(
        tmp_path / "data", sql_url, breached_index=index, breached_range_enabled=True
    )
    passgate = Passgate(settings, events=CapturedEvents())
    threads = Threads()
    monkeypatch.setattr(BreachedIndex, "range", threads.spy("range", BreachedIndex.range))
    try:
        loop_thread = threading.get_ident()
        digest = sha1_hex("hunter2")
        async with asgi_client(create_app(passgate)) as http:
            plain = await http.get(f"/range/{digest[:5]}")
            padded = await http.get(f"/range/{digest[:5]}", headers={"Add-Padding": "true"})
            bad = await http.get("/range/xyz")
        assert plain.status_code == 200
        assert f"{digest[5:]}:17" in plain.text.split("\r\n")
        assert 800 <= len(padded.text.split("\r\n")) <= 1000
        assert bad.status_code == 400
        assert len(threads.named("range")) == 2
        assert threads.on_loop(loop_thread) == []
    finally:
        passgate.close()
