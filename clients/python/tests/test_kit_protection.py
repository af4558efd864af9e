"""passgate's attack protection as the kit's typed errors, against a real server: brute-force
blocks, suspicious-IP throttling, too many logins, breached passwords; each counted against
the end user's IP the kit forwards (one server for the module; each test its own IPs)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from passgate_client import (
    AccountBlocked,
    AsyncPassgateClient,
    InvalidCredentials,
    IpThrottled,
    PassgateClient,
    PasswordLeaked,
    TooManyAttempts,
    TooManyLogins,
)
from passgate_server import PASSWORD, Server, start_server

pytestmark = pytest.mark.slow

MAX_ATTEMPTS = 3
PRE_LOGIN = 6
BREACHED = "correct horse battery staple 1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("kit-protection") / "data"
    for server in start_server(data):
        server.cli("protection", "set", "brute-force", "--max-attempts", str(MAX_ATTEMPTS))
        server.cli("protection", "set", "suspicious-ip", "--pre-login-max-attempts", str(PRE_LOGIN))
        for name in ("blocked", "throttled", "frequent", "leaked", "async"):
            server.create_user(f"{name}@example.com")
        server.create_user("breached@example.com", BREACHED)
        corpus = data.parent / "breached.txt"
        corpus.write_text(BREACHED + "\n")
        server.cli("breached", "import", "--format", "passwords", str(corpus))
        time.sleep(1.5)  # running servers take up policies and a new index within a second
        yield server


@pytest.fixture
def client(server: Server) -> Iterator[PassgateClient]:
    with PassgateClient(server.base, server.client_id, server.client_secret) as client:
        yield client


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_brute_force_block_is_account_blocked_for_that_ip_only(
    server: Server, client: PassgateClient
) -> None:
    for _ in range(MAX_ATTEMPTS):
        with pytest.raises(InvalidCredentials):
            client.login("blocked@example.com", "wrong password", end_user_ip="198.51.100.10")
    with pytest.raises(AccountBlocked) as blocked:
        client.login("blocked@example.com", PASSWORD, end_user_ip="198.51.100.10")
    error = blocked.value
    assert (error.code, error.status) == ("too_many_attempts", 429)
    assert "if an account exists" in error.user_message
    assert isinstance(error, TooManyAttempts)
    # The same user from another end-user IP is not blocked: the kit forwarded the IP.
    assert client.login("blocked@example.com", PASSWORD, end_user_ip="198.51.100.11")
    # An unknown identifier is blocked alike: the error tells nothing about existence.
    for _ in range(MAX_ATTEMPTS):
        with pytest.raises(InvalidCredentials):
            client.login("ghost@example.com", "wrong password", end_user_ip="198.51.100.12")
    with pytest.raises(AccountBlocked) as ghost:
        client.login("ghost@example.com", "wrong password", end_user_ip="198.51.100.12")
    assert ghost.value.user_message == error.user_message
    [event] = server.events("--type", "limit_wc", "--user", "blocked@example.com")
    assert (event["ip"], event["client_ip"]) == ("198.51.100.10", "127.0.0.1")


def test_suspicious_ip_throttle_is_ip_throttled(server: Server, client: PassgateClient) -> None:
    for n in range(PRE_LOGIN):  # failures for different accounts: no brute-force block
        with pytest.raises(InvalidCredentials):
            client.login(f"user{n}@example.com", "wrong", end_user_ip="203.0.113.20")
    with pytest.raises(IpThrottled) as throttled:
        client.login("throttled@example.com", PASSWORD, end_user_ip="203.0.113.20")
    error = throttled.value
    assert (error.code, error.status) == ("too_many_attempts", 429)
    # passgate says when the IP's bucket has its next attempt (Retry-After, whole seconds).
    assert error.retry_after is not None
    assert error.retry_after >= 1
    assert "suspicious activity from your network" in error.user_message
    assert client.login("throttled@example.com", PASSWORD, end_user_ip="203.0.113.21")
    [event] = server.events("--type", "limit_mu", "--ip", "203.0.113.20", "--limit", "1")
    assert (event["ip"], event["client_ip"]) == ("203.0.113.20", "127.0.0.1")


def test_too_many_logins_of_one_user_from_one_ip(client: PassgateClient) -> None:
    for _ in range(20):  # passgate allows 20 in a row per user and IP
        client.login("frequent@example.com", PASSWORD, end_user_ip="192.0.2.30")
    with pytest.raises(TooManyLogins) as frequent:
        client.login("frequent@example.com", PASSWORD, end_user_ip="192.0.2.30")
    assert frequent.value.status == 429
    assert frequent.value.retry_after is not None
    assert 1 <= frequent.value.retry_after <= 3
    assert frequent.value.user_message.startswith("Too many sign-ins")
    assert client.login("frequent@example.com", PASSWORD, end_user_ip="192.0.2.31")


def test_breached_password_at_login_and_signup_is_password_leaked(
    client: PassgateClient,
) -> None:
    with pytest.raises(PasswordLeaked) as leaked:
        client.login("breached@example.com", BREACHED, end_user_ip="192.0.2.40")
    assert (leaked.value.code, leaked.value.status, leaked.value.stage) == (
        "password_leaked",
        401,
        "login",
    )
    assert "reset your password" in leaked.value.user_message
    # Only the right password tells: a wrong one is the usual answer.
    with pytest.raises(InvalidCredentials):
        client.login("breached@example.com", "wrong " + BREACHED, end_user_ip="192.0.2.40")
    with pytest.raises(PasswordLeaked) as at_signup:
        client.signup("newcomer@example.com", BREACHED)
    assert (at_signup.value.status, at_signup.value.stage) == (400, "signup")
    assert "choose a different password" in at_signup.value.user_message


@pytest.mark.anyio
async def test_async_client_maps_the_same_refusals(server: Server) -> None:
    async with AsyncPassgateClient(server.base, server.client_id, server.client_secret) as client:
        for _ in range(MAX_ATTEMPTS):
            with pytest.raises(InvalidCredentials):
                await client.login("async@example.com", "wrong", end_user_ip="2001:db8::50")
        with pytest.raises(AccountBlocked):
            await client.login("async@example.com", PASSWORD, end_user_ip="2001:db8::50")
        with pytest.raises(PasswordLeaked):
            await client.login("breached@example.com", BREACHED, end_user_ip="2001:db8::51")


def test_an_untrusted_client_gets_its_header_ignored_and_passgate_says_why(
    server: Server,
) -> None:
    client = PassgateClient(server.base, server.untrusted_id, server.untrusted_secret)
    with client, pytest.raises(InvalidCredentials):
        client.login("leaked@example.com", "wrong", end_user_ip="198.51.100.60")
    [event] = server.events("--type", "fepft", "--client", server.untrusted_id, "--limit", "1")
    assert event["ip"] == event["client_ip"] == "127.0.0.1"
    assert "ignored" in event["details"]["ip_header"]
