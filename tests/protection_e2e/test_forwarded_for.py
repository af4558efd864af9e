"""Whose IP a login counts against (SPEC §2): ``auth0-forwarded-for`` and trusted proxies.

Only a trusted confidential client that authenticated with its secret changes the IP that
protection uses; every other client's header is ignored, and the event says so.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from passgate.errors import BRUTE_FORCE_MESSAGE, SUSPICIOUS_IP_MESSAGE
from passgate.events import Event
from passgate.protection.ip_throttle import PRE_LOGIN
from tests.protection_e2e.conftest import StackFactory
from tests.protection_e2e.helpers import (
    APP_SERVER_IP,
    IP_A,
    IP_B,
    PASSWORD,
    WRONG,
    Forwarded,
    NamedClient,
    Stack,
)

pytestmark = pytest.mark.anyio

HEADER = "auth0-forwarded-for"

#: header case -> (value(s) sent, the IP a trusted client makes protection use, or None
#: when a trusted client's request must be refused with 400).
HEADER_CASES: dict[str, tuple[Forwarded, str | None]] = {
    "absent": (None, APP_SERVER_IP),
    "ipv4": (IP_A, IP_A),
    "ipv6": ("2001:DB8:0::7", "2001:db8::7"),
    "ipv4-mapped-ipv6": ("::ffff:198.51.100.1", IP_A),
    "malformed": ("198.51.100.300", None),
    "with-port": ("198.51.100.1:4431", None),
    "hostname": ("alice.example.com", None),
    "list": (f"{IP_A}, {IP_B}", None),
    "repeated": ((IP_A, IP_B), None),
    "repeated-same": ((IP_A, IP_A), None),
}


def client_named(stack: Stack, kind: str) -> NamedClient:
    named: NamedClient = getattr(stack, kind)
    return named


def last_event(stack: Stack, kind: str) -> Event:
    return stack.events.of_type(kind)[-1]


@pytest.mark.parametrize("kind", ["trusted", "trusted_basic"])
async def test_trusted_client_uses_a_valid_header_and_refuses_a_bad_one(
    lite_stack: Stack, kind: str
) -> None:
    stack = lite_stack
    client = client_named(stack, kind)
    async with stack.http() as http:
        for case, (sent, expected_ip) in HEADER_CASES.items():
            user = f"user-{case}"  # one account per case: counts stay apart
            hashes = stack.hashes.count
            answer = await stack.login(http, user, WRONG, forwarded=sent, client=client)

            event = last_event(stack, "fepft")
            assert event.client_ip == APP_SERVER_IP, case
            if expected_ip is not None:
                assert answer.status_code == 403, (case, answer.text)
                assert answer.json()["error"] == "invalid_grant"
                assert event.ip == expected_ip, case
                assert "ip_header" not in event.details, case
                assert stack.hashes.count == hashes + 1, case
                assert stack.failures(user, expected_ip) == 1, case
                continue
            # Refused before any attempt: no hash, nothing counted against anybody.
            assert answer.status_code == 400, (case, answer.text)
            body = answer.json()
            assert body["error"] == "invalid_request", case
            assert HEADER in body["error_description"], case
            assert event.ip == APP_SERVER_IP, case
            assert stack.hashes.count == hashes, case
            for ip in (APP_SERVER_IP, IP_A, IP_B):
                assert stack.failures(user, ip) == 0, case
    # Only the accepted cases took a token from an IP's pre-login bucket.
    assert stack.passgate.counters.bucket_tat(IP_B, PRE_LOGIN) is None
    assert stack.passgate.counters.bucket_tat(APP_SERVER_IP, PRE_LOGIN) is not None


@pytest.mark.parametrize(
    ("kind", "reason"),
    [("untrusted", "is_token_endpoint_ip_header_trusted is off"), ("public", "none")],
)
async def test_untrusted_and_public_clients_have_their_header_ignored_and_logged(
    lite_stack: Stack, kind: str, reason: str
) -> None:
    stack = lite_stack
    client = client_named(stack, kind)
    async with stack.http() as http:
        for case, (sent, _) in HEADER_CASES.items():
            user = f"user-{case}"
            answer = await stack.login(http, user, WRONG, forwarded=sent, client=client)

            # A wrong password like any other: the header changed nothing, malformed or not.
            assert answer.status_code == 403, (case, answer.text)
            assert answer.json()["error"] == "invalid_grant"
            event = last_event(stack, "fepft")
            assert (event.ip, event.client_ip) == (APP_SERVER_IP, APP_SERVER_IP), case
            if sent is None:
                assert "ip_header" not in event.details
            else:
                note = str(event.details["ip_header"])
                assert note.startswith(f"{HEADER} ignored"), case
                assert reason in note, case
            assert stack.failures(user, APP_SERVER_IP) == 1, case
            assert stack.failures(user, IP_A) == 0, case
    assert stack.passgate.counters.bucket_tat(IP_A, PRE_LOGIN) is None


async def test_a_refused_header_never_counts_however_often_it_is_sent(
    lite_stack: Stack,
) -> None:
    stack = lite_stack
    async with stack.http() as http:
        for bad in ("nonsense", f"{IP_A},{IP_B}", (IP_A, IP_B)) * 5:
            answer = await stack.login(http, "alice", WRONG, forwarded=bad)
            assert answer.status_code == 400
        # A trusted client's header counts for nothing without the right secret, either.
        wrong_secret = NamedClient(stack.trusted.client, "not the secret")
        for _ in range(12):
            answer = await stack.login(http, "alice", WRONG, forwarded=IP_A, client=wrong_secret)
            assert answer.status_code == 401
            assert answer.json()["error"] == "invalid_client"
        assert stack.hashes.count == 0
        # Refused requests later, neither the app server nor IP A is blocked.
        assert (await stack.login(http, "alice", PASSWORD)).status_code == 200
        assert (await stack.login(http, "alice", PASSWORD, forwarded=IP_A)).status_code == 200
    assert stack.events.of_type("limit_wc", "limit_mu") == []


async def block(stack: Stack, forwarded: Forwarded, client: NamedClient | None = None) -> None:
    """Ten wrong passwords for alice, all answered 403."""
    async with stack.http() as http:
        for _ in range(10):
            answer = await stack.login(http, "alice", WRONG, forwarded=forwarded, client=client)
            assert answer.status_code == 403, answer.text


async def statuses(stack: Stack, attempts: Sequence[tuple[Forwarded, NamedClient]]) -> list[int]:
    """alice's right password, once per (forwarded, client)."""
    async with stack.http() as http:
        return [
            (await stack.login(http, "alice", PASSWORD, forwarded=fwd, client=c)).status_code
            for fwd, c in attempts
        ]


async def test_a_trusted_clients_header_blocks_the_end_user_not_the_app_server(
    lite_stack: Stack,
) -> None:
    stack = lite_stack
    await block(stack, IP_A)

    assert await statuses(
        stack,
        [
            (IP_A, stack.trusted),  # the blocked pair, through either trusted client
            (IP_A, stack.trusted_basic),
            (IP_B, stack.trusted),  # another end user behind the same app server
            (None, stack.trusted),  # the app server's own IP
            (IP_A, stack.untrusted),  # header ignored: the app server's IP again
        ],
    ) == [429, 429, 200, 200, 200]
    (limit,) = stack.events.of_type("limit_wc")
    assert (limit.ip, limit.client_ip) == (IP_A, APP_SERVER_IP)


@pytest.mark.parametrize("kind", ["untrusted", "public"])
async def test_an_ignored_header_leaves_the_block_on_the_app_servers_ip(
    lite_stack: Stack, kind: str
) -> None:
    stack = lite_stack
    client = client_named(stack, kind)
    await block(stack, IP_A, client)

    assert await statuses(
        stack,
        [
            (IP_B, client),  # whatever the header says, this client is the app server
            (None, stack.trusted),  # the app server's own IP, from any client
            (IP_A, stack.trusted),  # IP A itself was never counted
        ],
    ) == [429, 429, 200]
    (limit,) = stack.events.of_type("limit_wc")
    assert (limit.ip, limit.client_ip) == (APP_SERVER_IP, APP_SERVER_IP)


async def test_allowlisting_the_app_server_exempts_nobody_whose_ip_is_forwarded(
    lite_stack: Stack,
) -> None:
    stack = lite_stack
    stack.set_brute_force(allowlist=(APP_SERVER_IP,))
    stack.set_suspicious_ip(allowlist=(APP_SERVER_IP,))
    stack.set_pre_login(max_attempts=15, rate_ms=60_000)
    await block(stack, IP_A)

    assert await statuses(stack, [(IP_A, stack.trusted)]) == [429]
    # The app server's own logins are exempt: never counted, never blocked or throttled.
    await block(stack, None)
    await block(stack, None)
    assert await statuses(stack, [(None, stack.trusted), (IP_A, stack.untrusted)]) == [200, 200]
    # IP throttling still sees the forwarded IP: five more failures empty IP A's bucket.
    async with stack.http() as http:
        for n in range(5):
            answer = await stack.login(http, f"user{n}", WRONG, forwarded=IP_A)
            assert answer.status_code == 403
        answer = await stack.login(http, "bob", WRONG, forwarded=IP_A)
    assert answer.status_code == 429
    assert answer.json()["error_description"] == SUSPICIOUS_IP_MESSAGE


async def test_allowlisting_a_forwarded_ip_exempts_that_end_user(lite_stack: Stack) -> None:
    stack = lite_stack
    stack.set_brute_force(allowlist=("198.51.100.0/30",))
    await block(stack, IP_A)
    await block(stack, IP_A)

    assert await statuses(stack, [(IP_A, stack.trusted)]) == [200]
    assert stack.events.of_type("limit_wc") == []


# -- trusted reverse proxies in front of passgate (PASSGATE_TRUSTED_PROXIES) -------------

PROXY = "10.0.0.5"


async def xff_login(
    stack: Stack, peer: str, xff: str | None, password: str = WRONG, forwarded: Forwarded = None
) -> int:
    headers = [("x-forwarded-for", xff)] if xff is not None else []
    async with stack.http(peer) as http:
        answer = await stack.login(
            http, "alice", password, forwarded=forwarded, extra_headers=headers
        )
    return answer.status_code


async def test_x_forwarded_for_is_walked_from_the_right_through_trusted_proxies(
    make_lite_stack: StackFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PASSGATE_TRUSTED_PROXIES", "10.0.0.0/8, fd00::/8")
    stack = make_lite_stack()
    assert stack.passgate.settings.trusted_proxies == ["10.0.0.0/8", "fd00::/8"]

    cases = [
        # (peer, X-Forwarded-For, the connecting IP passgate must see)
        (PROXY, IP_A, IP_A),
        (PROXY, f"6.6.6.6, {IP_A}, 10.9.9.9", IP_A),  # the client-written part is ignored
        ("fd00::1", f"{IP_B}, fd00::2", IP_B),
        (PROXY, "10.1.1.1, 10.2.2.2", "10.1.1.1"),  # all proxies: the leftmost
        (PROXY, None, PROXY),
        (APP_SERVER_IP, IP_A, APP_SERVER_IP),  # not a trusted proxy: its XFF is ignored
    ]
    for peer, xff, _ in cases:
        assert await xff_login(stack, peer, xff) == 403
    seen = [(e.ip, e.client_ip) for e in stack.events.of_type("fepft")]
    assert seen == [(ip, ip) for _, _, ip in cases]


async def test_rotating_the_spoofed_part_of_x_forwarded_for_does_not_escape_a_block(
    make_lite_stack: StackFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PASSGATE_TRUSTED_PROXIES", "10.0.0.0/8")
    stack = make_lite_stack()
    for n in range(10):
        assert await xff_login(stack, PROXY, f"192.0.2.{n}, {IP_A}") == 403

    assert await xff_login(stack, PROXY, f"192.0.2.77, {IP_A}", PASSWORD) == 429
    assert await xff_login(stack, PROXY, IP_A, PASSWORD) == 429
    assert await xff_login(stack, PROXY, IP_B, PASSWORD) == 200  # another user, same proxy
    assert await xff_login(stack, PROXY, None, PASSWORD) == 200  # the proxy itself


async def test_trusted_proxy_and_trusted_client_headers_together(
    make_lite_stack: StackFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Behind a proxy, the app server's IP comes from X-Forwarded-For and the end
    user's from auth0-forwarded-for: ``client_ip`` and ``ip`` of the event."""
    monkeypatch.setenv("PASSGATE_TRUSTED_PROXIES", "10.0.0.0/8")
    stack = make_lite_stack()

    assert await xff_login(stack, PROXY, APP_SERVER_IP, PASSWORD, forwarded=IP_A) == 200
    (event,) = stack.events.of_type("sepft")
    assert (event.ip, event.client_ip) == (IP_A, APP_SERVER_IP)
    # The proxy's own address is no exemption either.
    stack.set_brute_force(allowlist=(PROXY, APP_SERVER_IP))
    for _ in range(10):
        assert await xff_login(stack, PROXY, APP_SERVER_IP, forwarded=IP_A) == 403
    assert await xff_login(stack, PROXY, APP_SERVER_IP, PASSWORD, forwarded=IP_A) == 429
    async with stack.http(PROXY) as http:
        answer = await stack.login(
            http, "alice", PASSWORD, forwarded=IP_A,
            extra_headers=[("x-forwarded-for", APP_SERVER_IP)],
        )  # fmt: skip
    assert answer.json() == {"error": "too_many_attempts", "error_description": BRUTE_FORCE_MESSAGE}
