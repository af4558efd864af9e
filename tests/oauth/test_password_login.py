"""How a password login is carried out: tokens signed during the verification, and a
success answered before its records are written (on both SQL backends)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from passgate.keys.ring import KeyRing
from passgate.storage.counters import AttemptKey
from passgate.testing import login_key
from tests.oauth.conftest import PEER_IP, World, assert_oauth_error

pytestmark = pytest.mark.anyio

TOKEN = "/oauth/token"


def alice_key(world: World) -> AttemptKey:
    policy = world.passgate.policies.get_brute_force()
    return login_key(world.passgate.directory, policy.mode, "alice", PEER_IP)


def failures(world: World) -> int:
    return world.passgate.counters.failures(alice_key(world), now=world.clock())


class HeldRecords:
    """Makes ``record_success`` wait until the test lets it through."""

    def __init__(self, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
        counters = world.passgate.counters
        real: Callable[..., None] = counters.record_success
        self.release = threading.Event()
        self.written = threading.Event()

        def held(*args: Any, **kwargs: Any) -> None:
            assert self.release.wait(10), "the test never released the record"
            real(*args, **kwargs)
            self.written.set()

        monkeypatch.setattr(counters, "record_success", held)


@pytest.fixture
def held(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldRecords]:
    records = HeldRecords(world, monkeypatch)
    yield records
    records.release.set()


class Signatures:
    """The claims of every token passgate signs (signing runs in an I/O thread)."""

    def __init__(self) -> None:
        self.claims: list[dict[str, Any]] = []
        self._changed = threading.Condition()

    def add(self, claims: dict[str, Any]) -> None:
        with self._changed:
            self.claims.append(claims)
            self._changed.notify_all()

    def wait_for(self, count: int) -> list[dict[str, Any]]:
        """The claims once ``count`` tokens are signed; fails if more ever are."""
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.claims) >= count, timeout=10)
        return self.claims


@pytest.fixture
def signatures(monkeypatch: pytest.MonkeyPatch) -> Signatures:
    signed = Signatures()
    real = KeyRing.sign

    def spy(self: KeyRing, claims: Any, alg: str = "RS256") -> str:
        signed.add(dict(claims))
        return real(self, claims, alg)

    monkeypatch.setattr(KeyRing, "sign", spy)
    return signed


async def test_every_login_signs_once_and_only_a_success_gets_the_token(
    world: World, http: httpx.AsyncClient, signatures: Signatures
) -> None:
    wrong = await http.post(TOKEN, data=world.password_form(password="not it"))
    first = signatures.wait_for(1)
    unknown = await http.post(TOKEN, data=world.password_form(username="nobody", password="x"))
    signatures.wait_for(2)
    right = await http.post(TOKEN, data=world.password_form())

    # The same work whether the user exists or not: one signature each.
    signed = signatures.wait_for(3)
    assert first[0]["sub"] == world.alice.id
    assert signed[1]["sub"] != world.alice.id
    assert wrong.content == unknown.content
    assert "access_token" not in wrong.json()
    # Only the success's token leaves the server.
    assert right.status_code == 200
    assert signed[2]["sub"] == world.alice.id
    assert len(signed) == 3


async def test_a_refused_right_password_gets_no_token(
    world: World, http: httpx.AsyncClient, signatures: Signatures
) -> None:
    world.passgate.directory.set_blocked(world.alice.id, True)
    response = await http.post(TOKEN, data=world.password_form())
    assert_oauth_error(response, 401, "unauthorized", "user is blocked")
    assert "access_token" not in response.text
    assert len(signatures.wait_for(1)) == 1  # signed during the verification, then dropped


async def test_a_success_is_answered_before_its_record_is_written(
    world: World, http: httpx.AsyncClient, held: HeldRecords
) -> None:
    for _ in range(2):
        wrong = await http.post(TOKEN, data=world.password_form(password="not it"))
        assert wrong.status_code == 403
    assert failures(world) == 2

    right = await http.post(TOKEN, data=world.password_form())
    assert right.status_code == 200
    assert not held.written.is_set()
    assert failures(world) == 2  # the reset is still on its way

    # The next login of the same user waits for that record before it is admitted, so
    # its failure counts after the reset: one failure, not three.
    later = asyncio.create_task(http.post(TOKEN, data=world.password_form(password="again")))
    await asyncio.sleep(0.2)
    assert not later.done()
    held.release.set()
    assert (await later).status_code == 403
    assert held.written.is_set()
    assert failures(world) == 1


async def test_other_users_do_not_wait_for_a_pending_record(
    world: World, http: httpx.AsyncClient, held: HeldRecords
) -> None:
    assert (await http.post(TOKEN, data=world.password_form())).status_code == 200
    assert not held.written.is_set()
    other = await http.post(TOKEN, data=world.password_form(username="nobody", password="x"))
    assert other.status_code == 403
    assert not held.written.is_set()


async def test_shutdown_writes_the_records_of_answered_successes(
    world: World, http: httpx.AsyncClient, held: HeldRecords
) -> None:
    await http.post(TOKEN, data=world.password_form(password="not it"))
    assert failures(world) == 1
    assert (await http.post(TOKEN, data=world.password_form())).status_code == 200
    assert failures(world) == 1  # answered; its record is held
    # The server stops now: stopping waits for the record rather than losing it.
    closing = threading.Thread(target=world.passgate.close)
    closing.start()
    closing.join(0.3)
    assert closing.is_alive()
    held.release.set()
    closing.join(10)
    assert not closing.is_alive()
    assert failures(world) == 0


async def test_a_login_whose_client_went_away_is_still_recorded(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    await_verify, verified = threading.Event(), threading.Event()
    hasher = world.passgate.hasher
    real_verify = hasher.verify

    def slow_verify(password_hash: str | None, password: str) -> bool:
        verified.set()
        assert await_verify.wait(10)
        return real_verify(password_hash, password)

    await _fail_once(world)
    assert failures(world) == 1
    monkeypatch.setattr(hasher, "verify", slow_verify)

    transport = httpx.ASGITransport(app=world.app, client=(PEER_IP, 50123))
    async with httpx.AsyncClient(transport=transport, base_url="http://passgate.test") as http:
        request = asyncio.create_task(http.post(TOKEN, data=world.password_form()))
        assert await asyncio.to_thread(verified.wait, 10)
        request.cancel()  # the client gives up while the password is being verified
        with pytest.raises(asyncio.CancelledError):
            await request
    await_verify.set()
    for _ in range(500):
        if failures(world) == 0:
            break
        await asyncio.sleep(0.01)
    assert failures(world) == 0


async def _fail_once(world: World) -> None:
    transport = httpx.ASGITransport(app=world.app, client=(PEER_IP, 50123))
    async with httpx.AsyncClient(transport=transport, base_url="http://passgate.test") as http:
        wrong = await http.post(TOKEN, data=world.password_form(password="not it"))
    assert wrong.status_code == 403
