"""Whose IP a login counts against (SPEC §2): ``auth0-forwarded-for`` and trusted proxies.

Only a trusted confidential client that authenticated with its secret changes the IP that
protection uses; every other client's header is ignored, and the event says so.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx
import pytest

from passgate.domain.client_ip import X_FORWARDED_FOR_IGNORED
from passgate.domain.events import Event
from passgate.domain.ip_throttle import PRE_LOGIN
from passgate.errors import BRUTE_FORCE_MESSAGE, SUSPICIOUS_IP_MESSAGE
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
            assert event.client_id == client.client.client_id, case  # refused or not: the app
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


# -- what really arrives: header bytes, latin-1 decoded ---------------------------------

#: Bytes a forwarded address may not hold, before, after or inside it. A server strips
#: spaces and tabs around a value and passes every other byte on (uvicorn's h11 and
#: httptools parsers both hand ``\xa0`` and ``\x85`` to the application); they arrive
#: latin-1 decoded, so ``\xa0`` is NO-BREAK SPACE and ``\x85`` NEXT LINE, which
#: ``str.strip()`` would drop. The UTF-8 forms of Unicode spaces and zero-width or format
#: characters arrive as several latin-1 characters.
STRAY_BYTES = [
    b"\xa0", b"\x85", b"\x1c", b"\x1d", b"\x1e", b"\x1f", b"\x0b", b"\x0c", b"\r", b"\n",
    b"\x00", b"\x7f", b"\xad",
    "\u00a0".encode(), "\u0085".encode(), "\u200b".encode(), "\u2028".encode(),
    "\u3000".encode(), "\ufeff".encode(), "\u2060".encode(),
]  # fmt: skip


def stray_variants(address: str) -> list[bytes]:
    """``address`` with each stray byte sequence before, after and inside it."""
    raw = address.encode()
    cut = len(raw) // 2
    variants = []
    for stray in STRAY_BYTES:
        variants += [stray + raw, raw + stray, raw[:cut] + stray + raw[cut:]]
    return variants


async def post_raw(
    stack: Stack,
    http: httpx.AsyncClient,
    headers: Sequence[tuple[bytes, bytes]],
    password: str = WRONG,
    client: NamedClient | None = None,
) -> httpx.Response:
    """alice's password grant with ``headers`` sent as the very bytes given."""
    client = client or stack.trusted
    form, auth_headers = client.auth()
    data = {"grant_type": "password", "username": "alice", "password": password, **form}
    raw = [(name.encode(), value.encode()) for name, value in auth_headers.items()]
    return await http.post("/oauth/token", data=data, headers=[*raw, *headers])


@pytest.mark.parametrize("address", [IP_A, "2001:db8::7", "::ffff:198.51.100.1"])
async def test_a_trusted_clients_header_with_any_stray_character_is_refused(
    lite_stack: Stack, address: str
) -> None:
    stack = lite_stack
    async with stack.http() as http:
        for value in stray_variants(address):
            answer = await post_raw(stack, http, [(HEADER.encode(), value)])
            assert answer.status_code == 400, (value, answer.text)
            body = answer.json()
            assert body["error"] == "invalid_request", value
            assert HEADER in body["error_description"], value
    assert stack.hashes.count == 0
    for ip in (APP_SERVER_IP, IP_A, "2001:db8::7"):
        assert stack.failures("alice", ip) == 0
    assert stack.passgate.counters.bucket_tat(IP_A, PRE_LOGIN) is None


async def test_spaces_and_tabs_around_a_forwarded_address_are_not_part_of_it(
    lite_stack: Stack,
) -> None:
    """HTTP's optional whitespace (RFC 9110 §5.5): servers strip it, passgate does too
    when an ASGI server hands it over."""
    stack = lite_stack
    async with stack.http() as http:
        for value in (b" " + IP_A.encode(), IP_A.encode() + b"\t", b" \t" + IP_A.encode() + b" "):
            answer = await post_raw(stack, http, [(HEADER.encode(), value)])
            assert answer.status_code == 403, (value, answer.text)
    assert stack.failures("alice", IP_A) == 3


async def test_the_same_ip_in_any_of_its_forms_is_one_counter(lite_stack: Stack) -> None:
    """IPv4-mapped IPv6 is the IPv4 address (from the header and as the TCP peer), and an
    IPv6 address in any case or compression is itself."""
    stack = lite_stack
    await block(stack, "::ffff:198.51.100.1")
    async with stack.http() as http:
        for value in (IP_A, "::FFFF:198.51.100.1", "0:0:0:0:0:ffff:c633:6401"):
            answer = await stack.login(http, "alice", PASSWORD, forwarded=value)
            assert answer.status_code == 429, (value, answer.text)
    async with stack.http("::ffff:198.51.100.1") as http:  # a dual-stack socket's peer
        answer = await stack.login(http, "alice", PASSWORD, client=stack.untrusted)
        assert answer.status_code == 429
    await block(stack, "2001:DB8:0:0::7")
    async with stack.http() as http:
        answer = await stack.login(http, "alice", PASSWORD, forwarded="2001:db8::7")
        assert answer.status_code == 429
        answer = await stack.login(http, "alice", PASSWORD, forwarded=IP_B)
        assert answer.status_code == 200
    (first, second) = stack.events.of_type("limit_wc")
    assert (first.ip, second.ip) == (IP_A, "2001:db8::7")


@pytest.mark.parametrize(
    "value",
    ["fe80::1%eth0", "fe80::1%25eth0", "[2001:db8::7]", "[::ffff:198.51.100.1]", "0x7f.1"],
)
async def test_a_trusted_clients_header_refuses_scoped_and_bracketed_ipv6(
    lite_stack: Stack, value: str
) -> None:
    stack = lite_stack
    async with stack.http() as http:
        answer = await stack.login(http, "alice", WRONG, forwarded=value)
    assert answer.status_code == 400
    assert HEADER in answer.json()["error_description"]
    assert stack.hashes.count == 0


async def test_a_malformed_x_forwarded_for_hop_is_not_believed(
    make_lite_stack: StackFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hop holding anything but an address (and a port) stops the walk: the last
    trusted proxy is the client, as for any other malformed hop (SPEC §2)."""
    monkeypatch.setenv("PASSGATE_TRUSTED_PROXIES", "10.0.0.0/8")
    stack = make_lite_stack()
    stack.set_brute_force(enabled=False)  # many failures as alice: only whose IP matters
    stack.set_suspicious_ip(enabled=False)
    xff = b"x-forwarded-for"
    #: (the X-Forwarded-For headers sent, the connecting IP passgate must see)
    cases: list[tuple[list[tuple[bytes, bytes]], str]] = []
    for value in stray_variants(IP_A):
        cases.append(([(xff, value)], PROXY))
        cases.append(([(xff, b"6.6.6.6, " + value)], PROXY))
        cases.append(([(xff, value + b", 10.2.2.2")], "10.2.2.2"))  # the last trusted hop
    cases.append(([(xff, IP_A.encode() + b", \xa0")], PROXY))  # a hop of one stray space
    cases.append(([(xff, IP_A.encode()), (xff, b"\x85")], PROXY))
    cases.append(([(xff, b"fe80::1%eth0")], PROXY))
    cases.append(([(xff, b"[fe80::1%eth0]:443")], PROXY))
    async with stack.http(PROXY) as http:
        for headers, _ in cases:
            answer = await post_raw(stack, http, headers)
            assert answer.status_code == 403, (headers, answer.text)
    seen = [event.client_ip for event in stack.events.of_type("fepft")]
    assert seen == [ip for _, ip in cases]


async def test_x_forwarded_for_hops_in_every_address_form(
    make_lite_stack: StackFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PASSGATE_TRUSTED_PROXIES", "10.0.0.0/8")
    stack = make_lite_stack()
    cases = [
        (b"::ffff:198.51.100.1", IP_A),
        (b"198.51.100.1:4431", IP_A),
        (b"[::ffff:198.51.100.1]:443", IP_A),
        (b"[2001:DB8::7]:443", "2001:db8::7"),
        (b"[2001:db8::7]", "2001:db8::7"),
        (b" 198.51.100.1 ,\t10.2.2.2 ", IP_A),  # spaces and tabs around entries
        (b"198.51.100.1,,", IP_A),  # empty entries are skipped
        (b"[2001:db8::7", PROXY),
        (b"198.51.100.1:", PROXY),
        (b"198.51.100.1:+80", PROXY),
    ]
    async with stack.http(PROXY) as http:
        for value, _ in cases:
            answer = await post_raw(stack, http, [(b"x-forwarded-for", value)])
            assert answer.status_code == 403, (value, answer.text)
    seen = [event.client_ip for event in stack.events.of_type("fepft")]
    assert seen == [ip for _, ip in cases]


async def test_an_x_forwarded_for_without_trusted_proxies_is_noted_in_the_event(
    make_lite_stack: StackFactory,
) -> None:
    """A proxy passgate was not told about: the header is ignored, and the event says so
    (``passgate doctor`` reads it); a blank header or none is not noted."""
    stack = make_lite_stack()
    for xff in (IP_A, " ", None):
        assert await xff_login(stack, PROXY, xff) == 403
    notes = [e.details.get("x_forwarded_for") for e in stack.events.of_type("fepft")]
    assert notes == [X_FORWARDED_FOR_IGNORED, None, None]
    assert [e.ip for e in stack.events.of_type("fepft")] == [PROXY] * 3
    # A malformed body is an event too, with the note.
    async with stack.http(PROXY) as http:
        answer = await http.post(
            "/oauth/token", content=b"{", headers={"content-type": "application/json",
                                                   "x-forwarded-for": IP_A},
        )  # fmt: skip
    assert answer.status_code == 400
    assert stack.events.events[-1].details["x_forwarded_for"] == X_FORWARDED_FOR_IGNORED


async def test_with_trusted_proxies_x_forwarded_for_is_not_noted(
    make_lite_stack: StackFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PASSGATE_TRUSTED_PROXIES", "10.0.0.0/8")
    proxied = make_lite_stack()
    assert await xff_login(proxied, PROXY, IP_A) == 403
    assert await xff_login(proxied, APP_SERVER_IP, IP_A) == 403  # an untrusted peer's: not noted
    assert [e.details.get("x_forwarded_for") for e in proxied.events.of_type("fepft")] == [
        None,
        None,
    ]
