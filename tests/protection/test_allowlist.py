"""Allowlists of addresses and CIDR ranges."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passgate.domain.allowlist import Allowlist


def test_addresses_and_ranges_of_both_families() -> None:
    allow = Allowlist.parse(["192.0.2.7", "10.0.0.0/8", "2001:db8::/32", "::1"])
    assert allow.contains("192.0.2.7")
    assert not allow.contains("192.0.2.8")
    assert allow.contains("10.255.255.255")
    assert not allow.contains("11.0.0.0")
    assert allow.contains("2001:db8:ffff::1")
    assert allow.contains("0:0::1")
    assert not allow.contains("2001:db9::1")


def test_ipv4_mapped_addresses_match_ipv4_entries() -> None:
    allow = Allowlist.parse(["10.0.0.0/8", "::ffff:192.0.2.0/120"])
    assert allow.contains("::ffff:10.1.2.3")
    assert allow.contains("192.0.2.99")
    assert not allow.contains("::ffff:11.1.2.3")


def test_an_empty_list_allows_nobody() -> None:
    allow = Allowlist.parse([])
    assert not allow
    assert not allow.contains("127.0.0.1")


def test_things_that_are_not_addresses_are_not_allowlisted() -> None:
    allow = Allowlist.parse(["0.0.0.0/0", "::/0"])
    assert allow.contains("8.8.8.8")
    assert not allow.contains("testclient")
    assert not allow.contains("")


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "nope", "", "1.2.3", "2001:db8::/129"])
def test_invalid_entries_are_refused_by_name(entry: str) -> None:
    with pytest.raises(ValueError, match="not an IP address or CIDR range") as raised:
        Allowlist.parse(["192.0.2.1", entry])
    assert repr(entry) in str(raised.value)


def test_a_range_with_host_bits_is_refused_with_a_suggestion() -> None:
    with pytest.raises(ValueError, match=r"did you mean '10\.0\.0\.0/8'"):
        Allowlist.parse(["10.0.0.1/8"])


def test_a_long_list_is_merged_into_ranges() -> None:
    entries = [f"10.{i // 256}.{i % 256}.0/24" for i in range(20000)]
    allow = Allowlist.parse(entries)
    assert allow.contains("10.78.31.4")
    assert allow.contains(f"10.{19999 // 256}.{19999 % 256}.255")
    assert not allow.contains(f"10.{20000 // 256}.{20000 % 256}.0")


networks = st.one_of(
    st.builds(
        lambda a, p: ipaddress.IPv4Network((a, p), strict=False),
        st.ip_addresses(v=4),
        st.integers(8, 32),
    ),
    st.builds(
        lambda a, p: ipaddress.IPv6Network((a, p), strict=False),
        st.ip_addresses(v=6),
        st.integers(16, 128),
    ),
)


@given(st.lists(networks, max_size=12), st.ip_addresses())
def test_contains_agrees_with_a_plain_scan(
    entries: list[ipaddress.IPv4Network | ipaddress.IPv6Network],
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    allow = Allowlist.parse([str(n) for n in entries])
    v4 = [n for n in entries if isinstance(n, ipaddress.IPv4Network)]
    v6 = [n for n in entries if isinstance(n, ipaddress.IPv6Network)]
    if isinstance(address, ipaddress.IPv4Address):
        as_v6 = ipaddress.IPv6Address(f"::ffff:{address}")
        mapped_entries = [n for n in v6 if n.prefixlen >= 96 and n.network_address.ipv4_mapped]
        expected = any(address in n for n in v4) or any(as_v6 in n for n in mapped_entries)
    else:
        mapped = address.ipv4_mapped
        expected = any(address in n for n in v6) or (
            mapped is not None and any(mapped in n for n in v4)
        )
    assert allow.contains(str(address)) is expected


def test_mapped_entries_match_plain_ipv4_and_wide_ipv6_ranges_do_not() -> None:
    assert Allowlist.parse(["::ffff:10.0.0.0/104"]).contains("10.1.2.3")
    assert not Allowlist.parse(["::/0"]).contains("10.1.2.3")
    assert Allowlist.parse(["::/0"]).contains("::ffff:10.1.2.3")
