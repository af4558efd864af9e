"""The end user's IP address, seen through the app's own trusted reverse proxies.

What the app forwards to passgate in ``auth0-forwarded-for`` decides whose attempts are
counted together. So the address must be one the app can vouch for:

- with no trusted proxy, the TCP peer (a client-supplied ``X-Forwarded-For`` is ignored);
- behind trusted proxies, ``X-Forwarded-For`` (or RFC 7239 ``Forwarded``, when the app says
  its proxies write that one) read from the right: each entry was appended by the hop after
  it, so it is believed while that hop is a trusted proxy; the first entry that is not a
  trusted proxy is the user. The left-most entry is whatever the client sent: never used
  unless every hop to its right is trusted;
- a malformed entry stops the walk: the last trusted hop is the client (as passgate does);
- loopback, private, link-local and other non-routable addresses are refused
  (:class:`UntrustedAddress`) unless ``allow_private``: seeing one means a proxy is missing
  from ``trusted_proxies``, and forwarding it would put every user behind one counter.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from passgate_client._errors import UntrustedAddress

__all__ = ["end_user_ip", "parse_ip"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Header = Literal["x-forwarded-for", "forwarded"]

_OWS = " \t"

#: Addresses that are never a user on the Internet (documentation ranges are allowed: they
#: appear in examples and tests, and never arrive from the Internet).
_NOT_PUBLIC: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(cidr), why)
    for cidr, why in (
        ("0.0.0.0/8", "an unspecified address"),
        ("10.0.0.0/8", "a private address"),
        ("100.64.0.0/10", "a carrier-grade NAT address"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address"),
        ("172.16.0.0/12", "a private address"),
        ("192.168.0.0/16", "a private address"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved address"),
        ("::/128", "an unspecified address"),
        ("::1/128", "a loopback address"),
        ("fc00::/7", "a private (unique local) address"),
        ("fe80::/10", "a link-local address"),
        ("ff00::/8", "a multicast address"),
    )
)


@functools.lru_cache(maxsize=4096)
def parse_ip(text: str) -> IPAddress | None:
    """One IP address (IPv4-mapped IPv6 as IPv4; a zone id dropped), or None if ``text``
    is not exactly one address give or take spaces and tabs."""
    try:
        address = ipaddress.ip_address(text.strip(_OWS))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.scope_id is not None:
            return ipaddress.IPv6Address(str(address).partition("%")[0])
    return address


def _hop(entry: str) -> IPAddress | None:
    """An ``X-Forwarded-For`` entry or a ``Forwarded`` ``for=`` value: an address, maybe
    with a port (``192.0.2.1:80``, ``[2001:db8::1]:80``), maybe quoted; None otherwise."""
    text = entry.strip(_OWS)
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1].strip(_OWS)
    address = parse_ip(text)
    if address is not None:
        return address
    if text.startswith("["):
        host, bracket, port = text[1:].partition("]")
        if bracket and (not port or (port[:1] == ":" and port[1:].isdigit())):
            return parse_ip(host)
        return None
    host, colon, port = text.partition(":")
    if colon and port.isdigit():
        address = parse_ip(host)
        if isinstance(address, ipaddress.IPv4Address):
            return address
    return None


@functools.lru_cache(maxsize=256)
def _networks(cidrs: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    out: list[IPNetwork] = []
    for cidr in cidrs:
        try:
            network = ipaddress.ip_network(cidr.strip(), strict=False)
        except ValueError:
            raise ValueError(f"trusted_proxies: {cidr!r} is not an IP address or CIDR") from None
        if isinstance(network, ipaddress.IPv6Network) and network.network_address.ipv4_mapped:
            mapped = network.network_address.ipv4_mapped
            network = ipaddress.ip_network(f"{mapped}/{max(0, network.prefixlen - 96)}")
        out.append(network)
    return tuple(out)


def _trusted(address: IPAddress, networks: Sequence[IPNetwork]) -> bool:
    return any(address in network for network in networks)


# -- reading requests (duck-typed) -----------------------------------------------------
def _from_environ(environ: Mapping[str, Any]) -> tuple[str | None, list[str], list[str]]:
    def values(key: str) -> list[str]:
        value = environ.get(key)
        return [value] if isinstance(value, str) else []

    peer = environ.get("REMOTE_ADDR")
    return (
        peer if isinstance(peer, str) else None,
        values("HTTP_X_FORWARDED_FOR"),
        values("HTTP_FORWARDED"),
    )


def _from_scope(scope: Mapping[str, Any]) -> tuple[str | None, list[str], list[str]]:
    client = scope.get("client")
    peer = client[0] if isinstance(client, list | tuple) and client else None
    xff: list[str] = []
    forwarded: list[str] = []
    for pair in scope.get("headers") or ():
        name, value = pair
        name = bytes(name).lower()
        if name == b"x-forwarded-for":
            xff.append(bytes(value).decode("latin-1"))
        elif name == b"forwarded":
            forwarded.append(bytes(value).decode("latin-1"))
    return (peer if isinstance(peer, str) else None, xff, forwarded)


def _read(request: object) -> tuple[str | None, list[str], list[str]]:
    """(peer, X-Forwarded-For values, Forwarded values) of any supported request shape."""
    if isinstance(request, Mapping):
        if request.get("type") in ("http", "websocket") and "headers" in request:
            return _from_scope(request)  # an ASGI scope
        return _from_environ(request)  # a WSGI environ
    meta = getattr(request, "META", None)  # Django (WSGI and ASGI requests alike)
    if isinstance(meta, Mapping):
        return _from_environ(meta)
    scope = getattr(request, "scope", None)  # Starlette / FastAPI
    if isinstance(scope, Mapping):
        return _from_scope(scope)
    environ = getattr(request, "environ", None)  # Flask / Werkzeug
    if isinstance(environ, Mapping):
        return _from_environ(environ)
    raise TypeError(
        "end_user_ip() takes a WSGI environ, an ASGI scope, or a Django, Flask or "
        f"Starlette request, not {type(request).__name__}"
    )


def _split_forwarded(values: Iterable[str]) -> list[str]:
    """The ``for=`` values of RFC 7239 ``Forwarded`` elements, in order. An element
    without ``for=`` or one that cannot be read gives an empty string (malformed)."""
    out: list[str] = []
    for value in values:
        for element in _split_quoted(value, ","):
            if not element.strip(_OWS):
                continue
            found = ""
            for pair in _split_quoted(element, ";"):
                name, equals, item = pair.strip(_OWS).partition("=")
                if equals and name.strip(_OWS).lower() == "for":
                    found = item.strip(_OWS)
            out.append(found)
    return out


def _split_quoted(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _refusal(address: IPAddress) -> str | None:
    for network, why in _NOT_PUBLIC:
        if address.version == network.version and address in network:
            return why
    return None


def end_user_ip(
    request: object,
    trusted_proxies: Sequence[str] = (),
    *,
    allow_private: bool = False,
    header: Header = "x-forwarded-for",
) -> str:
    """The end user's IP address of ``request``, to pass to ``login(end_user_ip=…)``.

    ``request`` is a WSGI environ, an ASGI scope, or a Django, Flask (Werkzeug) or
    Starlette/FastAPI request. ``trusted_proxies`` lists the app's own reverse proxies and
    load balancers as addresses or CIDRs (``["10.0.0.0/8"]``); none by default, and then
    the TCP peer is the user. ``header`` names the header those proxies write:
    ``"x-forwarded-for"`` (default) or ``"forwarded"`` (RFC 7239); the other one is
    ignored, since a client could send it.

    Raises :class:`UntrustedAddress` when the address found is loopback, private,
    link-local or otherwise not routable (unless ``allow_private``: users really on a
    private network), or when the request has no peer address; ``ValueError`` for a
    ``trusted_proxies`` entry that is not an address or CIDR.
    """
    if isinstance(trusted_proxies, str):
        raise TypeError("trusted_proxies is a list of addresses or CIDRs, not one string")
    networks = _networks(tuple(trusted_proxies))
    peer_text, xff_values, forwarded_values = _read(request)
    peer = parse_ip(peer_text) if peer_text is not None else None
    if peer is None:
        raise UntrustedAddress(
            "the request has no peer IP address (a Unix socket or test client?): "
            "pass trusted_proxies for the proxy in front, or give the address yourself"
        )
    address = peer
    if networks and _trusted(address, networks):
        if header == "forwarded":
            entries = _split_forwarded(forwarded_values)
        else:
            entries = [entry for value in xff_values for entry in value.split(",")]
            entries = [entry for entry in entries if entry.strip(_OWS)]
        for entry in reversed(entries):
            hop = _hop(entry)
            if hop is None:
                break  # not believed: the proxy that reported it is the client
            address = hop
            if not _trusted(address, networks):
                break
    if not allow_private:
        why = _refusal(address)
        if why is not None:
            hint = (
                "the request came from a trusted proxy or from behind it with no forwarded "
                "address for its client"
                if _trusted(address, networks)
                else "if it is a proxy or load balancer in front of the app, add it to "
                "trusted_proxies"
            )
            raise UntrustedAddress(
                f"the end user's address {address} is {why}: {hint} "
                "(pass allow_private=True only if users really connect from such addresses)"
            )
    return str(address)
