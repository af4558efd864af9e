"""Whose IP address a request counts against (SPEC §2). Sans-I/O: strings in, strings out.

Two steps:

1. :func:`connecting_ip` — the address that connected to passgate: the TCP peer, unless
   the peer is one of the operator's trusted reverse proxies; then ``X-Forwarded-For`` is
   walked from the right to the first address that is not a trusted proxy (as uvicorn's
   proxy-headers middleware does). No proxy is trusted by default.
2. :func:`resolve_end_user_ip` — the end user's address: the connecting IP, or the
   ``auth0-forwarded-for`` header when a confidential client that authenticated with its
   secret in this request is trusted to send it.

Addresses are returned in normal form (``ipaddress``'s ``str``: IPv6 compressed, lower
case) and IPv4-mapped IPv6 addresses (``::ffff:192.0.2.1``) as plain IPv4, so one user is
one counter however the address reached us.

Header values arrive as the server passed them, latin-1 decoded: a server strips spaces
and tabs around a value but hands on every other byte (``\xa0`` arrives as NO-BREAK
SPACE, ``\x85`` as NEXT LINE). Only spaces and tabs (HTTP's optional whitespace) are
trimmed here; any other character makes a value malformed, never an address.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from passgate.errors import InvalidRequest

__all__ = [
    "FORWARDED_FOR_HEADER",
    "IGNORED_NO_SECRET",
    "IGNORED_PUBLIC_CLIENT",
    "IGNORED_UNTRUSTED_CLIENT",
    "UNKNOWN_PEER",
    "X_FORWARDED_FOR_IGNORED",
    "IpResolution",
    "connecting_ip",
    "ip_text",
    "normalise_ip",
    "parse_ip",
    "resolve_end_user_ip",
]

FORWARDED_FOR_HEADER = "auth0-forwarded-for"
#: The connecting IP when the server reports no peer address (e.g. a Unix socket).
UNKNOWN_PEER = "0.0.0.0"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: HTTP's optional whitespace (RFC 9110 §5.6.3): the only characters trimmed around an
#: address. ``str.strip()`` would also drop Unicode whitespace (``\xa0``, ``\x85``, …).
_OWS = " \t"


@functools.lru_cache(maxsize=65536)
def parse_ip(text: str) -> IPAddress | None:
    """One IP address in normal form (IPv4-mapped IPv6 as IPv4); None if ``text`` is not
    exactly one address, give or take spaces and tabs around it. Any other character
    (Unicode whitespace, controls, zero-width characters) makes it no address. Scoped
    IPv6 addresses (``fe80::1%eth0``) are refused.

    Cached: parsing costs ~15 µs, and a flood repeats the same few addresses."""
    try:
        address = ipaddress.ip_address(text.strip(_OWS))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id is not None:
            return None
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
    return address


@functools.lru_cache(maxsize=65536)
def ip_text(text: str) -> str | None:
    """:func:`parse_ip` as a string (cached too: ``str`` of an address costs ~3 µs)."""
    address = parse_ip(text)
    return None if address is None else str(address)


def normalise_ip(text: str) -> str:
    """``text`` in normal form when it is an IP address, else unchanged."""
    return ip_text(text) or text


def _forwarded_hop(entry: str) -> IPAddress | None:
    """One X-Forwarded-For entry; some proxies append a port (``1.2.3.4:80``, ``[::1]:80``)."""
    address = parse_ip(entry)
    if address is not None:
        return address
    text = entry.strip(_OWS)
    if text.startswith("["):
        host, bracket, port = text[1:].partition("]")
        if bracket and (not port or (port[:1] == ":" and port[1:].isdigit())):
            return parse_ip(host)
        return None
    host, colon, port = text.partition(":")
    if colon and port.isdigit() and ":" not in port:
        address = parse_ip(host)
        if isinstance(address, ipaddress.IPv4Address):
            return address
    return None


def _trusted(address: IPAddress, trusted_proxies: Sequence[IPNetwork]) -> bool:
    return any(address in network for network in trusted_proxies)


def connecting_ip(
    peer: str | None,
    x_forwarded_for: Sequence[str],
    trusted_proxies: Sequence[IPNetwork] = (),
) -> str:
    """The IP address that connected to passgate, seen through trusted proxies.

    ``x_forwarded_for`` holds the header's values (each may be comma-separated; repeated
    headers are read as one list, in order). From the right, each entry was appended by
    the hop after it; while that hop is a trusted proxy, its entry is believed. The first
    entry that is not a trusted proxy is the client. If every entry is a trusted proxy,
    the leftmost one is the client.

    A malformed entry stops the walk and the last trusted hop (the proxy that reported
    it) is the client: passgate cannot know who was behind it, and attributing to the
    proxy is better than to an address nobody vouched for. A proxy that works properly
    never writes such an entry, so this only happens when one is misconfigured.

    A peer that is not an IP address (a Unix socket, a test client's name) is returned as
    given, or :data:`UNKNOWN_PEER` when absent; neither is ever a trusted proxy.
    """
    if peer is None:
        return UNKNOWN_PEER
    if not trusted_proxies:
        return ip_text(peer) or peer
    address = parse_ip(peer)
    if address is None:
        return peer
    if not _trusted(address, trusted_proxies):
        return str(address)
    entries = [entry for value in x_forwarded_for for entry in value.split(",")]
    entries = [entry for entry in entries if entry.strip(_OWS)]
    for entry in reversed(entries):
        hop = _forwarded_hop(entry)
        if hop is None:
            return str(address)
        address = hop
        if not _trusted(address, trusted_proxies):
            return str(address)
    return str(address)


@dataclass(frozen=True, slots=True)
class IpResolution:
    #: The IP that attack protection counts and allowlists check (event field ``ip``).
    ip: str
    #: The IP that connected (event field ``client_ip``).
    client_ip: str
    #: Why a present ``auth0-forwarded-for`` header was ignored; for the event's details.
    note: str | None = None


def _ignored(reason: str) -> str:
    return f"{FORWARDED_FOR_HEADER} ignored: {reason}"


#: Why a present ``auth0-forwarded-for`` header was ignored: the event's
#: ``details.ip_header`` (``passgate doctor`` reads them back).
IGNORED_PUBLIC_CLIENT = _ignored(
    "the client's auth method is none (a public client cannot vouch for IPs)"
)
IGNORED_UNTRUSTED_CLIENT = _ignored(
    "the client is not trusted to forward IPs (is_token_endpoint_ip_header_trusted is off)"
)
IGNORED_NO_SECRET = _ignored("the client did not authenticate with its secret in this request")
#: A token request carried ``X-Forwarded-For`` while no reverse proxy is trusted
#: (``PASSGATE_TRUSTED_PROXIES`` unset): the event's ``details.x_forwarded_for``.
X_FORWARDED_FOR_IGNORED = (
    "X-Forwarded-For ignored: no reverse proxy is trusted (PASSGATE_TRUSTED_PROXIES is not set)"
)


def resolve_end_user_ip(
    client_ip: str,
    header_values: Sequence[str],
    *,
    authenticated_with_secret: bool,
    auth_method: str,
    trusted: bool,
) -> IpResolution:
    """The end user's IP for a token request (SPEC §2).

    ``header_values`` are the request's ``auth0-forwarded-for`` header values, one per
    occurrence. The header is honoured only when the client authenticated with its secret
    in this request, its auth method is not ``none`` and its
    ``is_token_endpoint_ip_header_trusted`` setting is on. Then it must be exactly one
    IPv4 or IPv6 address, else :class:`~passgate.errors.InvalidRequest` (400) naming the
    header: a malformed value, a comma-separated list and a repeated header are refused
    rather than guessed at. When the header is present but not honoured, the connecting
    IP is used and ``note`` says why.
    """
    if not header_values:
        return IpResolution(ip=client_ip, client_ip=client_ip)
    if auth_method == "none":
        return IpResolution(ip=client_ip, client_ip=client_ip, note=IGNORED_PUBLIC_CLIENT)
    if not trusted:
        return IpResolution(ip=client_ip, client_ip=client_ip, note=IGNORED_UNTRUSTED_CLIENT)
    if not authenticated_with_secret:
        return IpResolution(ip=client_ip, client_ip=client_ip, note=IGNORED_NO_SECRET)
    if len(header_values) != 1:
        raise InvalidRequest(
            f"The {FORWARDED_FOR_HEADER} header must be sent once, with one IP address."
        )
    value = header_values[0]
    if "," in value:
        raise InvalidRequest(
            f"The {FORWARDED_FOR_HEADER} header must hold one IP address, not a list."
        )
    ip = ip_text(value)
    if ip is None:
        raise InvalidRequest(
            f"The {FORWARDED_FOR_HEADER} header must be a valid IPv4 or IPv6 address."
        )
    return IpResolution(ip=ip, client_ip=client_ip)
