"""Whose IP counts: the connecting IP through trusted proxies, and auth0-forwarded-for."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passgate.domain.client_ip import (
    FORWARDED_FOR_HEADER,
    UNKNOWN_PEER,
    IpResolution,
    connecting_ip,
    normalise_ip,
    resolve_end_user_ip,
)
from passgate.errors import InvalidRequest
from passgate.web.errors import error_status

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"))
APP_SERVER = "198.51.100.10"

# --- connecting IP -------------------------------------------------------------------


def test_the_peer_is_the_client_when_no_proxy_is_trusted() -> None:
    assert connecting_ip("203.0.113.5", ["1.2.3.4"], ()) == "203.0.113.5"


def test_an_untrusted_peer_cannot_forward() -> None:
    assert connecting_ip("203.0.113.5", ["1.2.3.4"], PROXIES) == "203.0.113.5"


def test_a_trusted_proxy_forwards_the_first_untrusted_hop_from_the_right() -> None:
    xff = ["6.6.6.6, 203.0.113.5", "10.1.1.1"]  # the client forged 6.6.6.6
    assert connecting_ip("10.0.0.2", xff, PROXIES) == "203.0.113.5"


def test_a_trusted_proxy_without_forwarded_for_is_the_client() -> None:
    assert connecting_ip("10.0.0.2", [], PROXIES) == "10.0.0.2"


def test_when_every_hop_is_trusted_the_leftmost_is_the_client() -> None:
    assert connecting_ip("10.0.0.2", ["10.9.9.9, 10.1.1.1"], PROXIES) == "10.9.9.9"


def test_a_malformed_entry_stops_at_the_last_trusted_hop() -> None:
    assert connecting_ip("10.0.0.2", ["203.0.113.5, garbage"], PROXIES) == "10.0.0.2"
    assert connecting_ip("10.0.0.2", ["nonsense, 10.1.1.1"], PROXIES) == "10.1.1.1"


def test_forwarded_entries_with_ports_and_ipv6() -> None:
    assert connecting_ip("10.0.0.2", ["203.0.113.5:4711"], PROXIES) == "203.0.113.5"
    assert connecting_ip("10.0.0.2", ["[2001:DB8::1]:443"], PROXIES) == "2001:db8::1"
    assert connecting_ip("fd00::2", ["2001:db8:0:0::7"], PROXIES) == "2001:db8::7"
    assert connecting_ip("10.0.0.2", ["[2001:db8::1"], PROXIES) == "10.0.0.2"


#: Characters that ``str.strip()`` drops or that are invisible, as a latin-1 decoded header
#: value can hold them: none of them may be read as part of, or around, an address.
STRAY = ["\xa0", "\x85", "\x1c", "\x1f", "\x0b", "\x0c", "\r", "\n", "\x00", "\xad", "\u200b"]


@pytest.mark.parametrize("stray", STRAY)
def test_a_hop_with_a_stray_character_is_malformed(stray: str) -> None:
    for entry in (f"203.0.113.5{stray}", f"{stray}203.0.113.5", f"[2001:db8::1]:443{stray}"):
        assert connecting_ip("10.0.0.2", [entry], PROXIES) == "10.0.0.2"
    assert connecting_ip("10.0.0.2", [f"203.0.113.5, {stray}"], PROXIES) == "10.0.0.2"
    assert connecting_ip("10.0.0.2", [f"203.0.113.5, {stray}10.1.1.1"], PROXIES) == "10.0.0.2"


def test_spaces_and_tabs_around_hops_are_not_part_of_them() -> None:
    assert connecting_ip("10.0.0.2", [" 203.0.113.5\t,\t10.1.1.1 "], PROXIES) == "203.0.113.5"
    assert connecting_ip("10.0.0.2", ["203.0.113.5, ,\t"], PROXIES) == "203.0.113.5"


def test_peers_are_normalised() -> None:
    assert connecting_ip("::ffff:203.0.113.5", [], ()) == "203.0.113.5"
    assert connecting_ip("::FFFF:10.0.0.2", ["203.0.113.9"], PROXIES) == "203.0.113.9"
    assert connecting_ip("2001:0db8:0000::0001", [], ()) == "2001:db8::1"


def test_peers_that_are_not_addresses() -> None:
    assert connecting_ip(None, ["203.0.113.5"], PROXIES) == UNKNOWN_PEER
    assert connecting_ip("testclient", ["203.0.113.5"], PROXIES) == "testclient"


@given(st.lists(st.ip_addresses(), max_size=6), st.ip_addresses())
def test_the_answer_is_always_an_address_that_was_seen(
    hops: list[ipaddress.IPv4Address | ipaddress.IPv6Address],
    peer: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    xff = [", ".join(str(hop) for hop in hops)] if hops else []
    seen = {normalise_ip(str(address)) for address in [*hops, peer]}
    assert connecting_ip(str(peer), xff, PROXIES) in seen


# --- auth0-forwarded-for -------------------------------------------------------------

TRUSTED = {"authenticated_with_secret": True, "auth_method": "client_secret_post", "trusted": True}


def resolve(values: list[str], **overrides: object) -> IpResolution:
    options = {**TRUSTED, **overrides}
    return resolve_end_user_ip(
        APP_SERVER,
        values,
        authenticated_with_secret=bool(options["authenticated_with_secret"]),
        auth_method=str(options["auth_method"]),
        trusted=bool(options["trusted"]),
    )


def test_a_trusted_client_forwards_the_end_users_ip() -> None:
    assert resolve(["203.0.113.5"]) == IpResolution("203.0.113.5", APP_SERVER, None)
    basic = resolve([" 203.0.113.5 "], auth_method="client_secret_basic")
    assert basic.ip == "203.0.113.5"


def test_forwarded_ipv6_is_normalised() -> None:
    assert resolve(["2001:DB8:0:0:0:0:0:1"]).ip == "2001:db8::1"
    assert resolve(["::ffff:203.0.113.5"]).ip == "203.0.113.5"


def test_without_the_header_the_connecting_ip_counts() -> None:
    assert resolve([]) == IpResolution(APP_SERVER, APP_SERVER, None)
    assert resolve([], trusted=False) == IpResolution(APP_SERVER, APP_SERVER, None)


@pytest.mark.parametrize(
    "values",
    [
        ["not-an-ip"],
        [""],
        ["203.0.113.5, 198.51.100.1"],
        ["203.0.113.5,"],
        ["203.0.113.5", "198.51.100.1"],
        ["203.0.113.5", "203.0.113.5"],
        ["203.0.113.5:80"],
        ["203.0.113.0/24"],
        ["fe80::1%eth0"],
        ["[2001:db8::1]"],
        ["999.1.1.1"],
    ],
)
def test_a_trusted_client_must_send_exactly_one_address(values: list[str]) -> None:
    with pytest.raises(InvalidRequest) as raised:
        resolve(values)
    assert FORWARDED_FOR_HEADER in raised.value.description
    assert error_status(raised.value) == 400


@pytest.mark.parametrize("stray", STRAY)
def test_a_trusted_client_must_send_nothing_but_the_address(stray: str) -> None:
    for value in (f"203.0.113.5{stray}", f"{stray}2001:db8::1", f"::ffff:{stray}203.0.113.5"):
        with pytest.raises(InvalidRequest) as raised:
            resolve([value])
        assert FORWARDED_FOR_HEADER in raised.value.description


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"trusted": False}, "is_token_endpoint_ip_header_trusted is off"),
        ({"authenticated_with_secret": False}, "did not authenticate with its secret"),
        ({"auth_method": "none", "authenticated_with_secret": False}, "auth method is none"),
        ({"auth_method": "none", "trusted": True}, "auth method is none"),
    ],
)
@pytest.mark.parametrize(
    "values",
    [["203.0.113.5"], ["garbage"], ["203.0.113.5, 1.1.1.1"], ["2001:db8::1", "203.0.113.5"]],
)
def test_an_untrusted_client_is_ignored_and_told_why(
    overrides: dict[str, object], reason: str, values: list[str]
) -> None:
    result = resolve(values, **overrides)
    assert result.ip == APP_SERVER
    assert result.client_ip == APP_SERVER
    assert result.note is not None
    assert result.note.startswith(f"{FORWARDED_FOR_HEADER} ignored")
    assert reason in result.note


@given(st.ip_addresses())
def test_any_single_address_is_honoured(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    assert resolve([str(address)]).ip == normalise_ip(str(address))


@given(st.text(max_size=60))
def test_any_header_value_gives_an_address_or_a_400(value: str) -> None:
    refusal: InvalidRequest | None = None
    try:
        result = resolve([value])
    except InvalidRequest as exc:
        refusal = exc
    if refusal is not None:
        assert FORWARDED_FOR_HEADER in refusal.description
    else:
        assert ipaddress.ip_address(result.ip)
        assert set(value.strip(" \t")) <= set("0123456789abcdefABCDEF:.")
