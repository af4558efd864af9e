"""IP allowlists: addresses and CIDR ranges, IPv4 and IPv6.

Entries are merged into sorted, disjoint integer ranges per address family, so a lookup is
one binary search however long the list is. IPv4-mapped IPv6 addresses
(``::ffff:192.0.2.1``, as dual-stack sockets report IPv4 peers) match IPv4 entries, and
IPv4-mapped entries (``::ffff:10.0.0.0/104``) match IPv4 addresses. Other IPv6 ranges
(``::/0``) match IPv6 addresses only.
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Allowlist", "parse_network"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_network(entry: str) -> IPNetwork:
    """One allowlist entry as a network; ValueError naming the entry if it is not one.

    A CIDR with host bits set (``10.0.0.1/8``) is refused rather than silently widened.
    """
    if not isinstance(entry, str):
        raise ValueError(f"{entry!r} is not an IP address or CIDR range")
    text = entry.strip()
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError:
        try:
            wide = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or CIDR range") from None
        raise ValueError(f"{entry!r} has host bits set; did you mean {str(wide)!r}?") from None
    if isinstance(network, ipaddress.IPv6Network) and network.network_address.scope_id:
        raise ValueError(f"{entry!r}: a scoped IPv6 address cannot be allowlisted")
    return network


def _ranges(networks: list[IPNetwork]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    starts: list[int] = []
    ends: list[int] = []
    for network in sorted(networks, key=lambda n: int(n.network_address)):
        start = int(network.network_address)
        end = int(network.broadcast_address)
        if ends and start <= ends[-1] + 1:
            ends[-1] = max(ends[-1], end)
        else:
            starts.append(start)
            ends.append(end)
    return tuple(starts), tuple(ends)


@dataclass(frozen=True, slots=True)
class Allowlist:
    entries: tuple[str, ...]
    _v4_starts: tuple[int, ...]
    _v4_ends: tuple[int, ...]
    _v6_starts: tuple[int, ...]
    _v6_ends: tuple[int, ...]

    @classmethod
    def parse(cls, entries: Sequence[str]) -> Allowlist:
        v4: list[IPNetwork] = []
        v6: list[IPNetwork] = []
        for entry in entries:
            network = parse_network(entry)
            if isinstance(network, ipaddress.IPv4Network):
                v4.append(network)
            elif network.network_address.ipv4_mapped is not None and network.prefixlen >= 96:
                # ::ffff:10.0.0.0/104 means 10.0.0.0/8: match it as IPv4.
                mapped = network.network_address.ipv4_mapped
                v4.append(ipaddress.IPv4Network(f"{mapped}/{network.prefixlen - 96}"))
            else:
                v6.append(network)
        v4_starts, v4_ends = _ranges(v4)
        v6_starts, v6_ends = _ranges(v6)
        return cls(tuple(entries), v4_starts, v4_ends, v6_starts, v6_ends)

    def __bool__(self) -> bool:
        return bool(self._v4_starts or self._v6_starts)

    def contains(self, ip: str) -> bool:
        """Whether ``ip`` is allowlisted; False for anything that is not an IP address."""
        if not self:
            return False
        try:
            address = ipaddress.ip_address(ip.strip())
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv4Address):
            return _within(int(address), self._v4_starts, self._v4_ends)
        if _within(int(address), self._v6_starts, self._v6_ends):
            return True
        mapped = address.ipv4_mapped
        return mapped is not None and _within(int(mapped), self._v4_starts, self._v4_ends)


def _within(value: int, starts: tuple[int, ...], ends: tuple[int, ...]) -> bool:
    index = bisect_right(starts, value) - 1
    return index >= 0 and value <= ends[index]
