"""end_user_ip(): the right-most untrusted hop, never what the client wrote on the left; the
peer when no proxy is trusted; private and loopback addresses refused; every request
shape (WSGI environ, ASGI scope, Django, Flask, Starlette) read the same way."""

from __future__ import annotations

from typing import Any

import pytest

from passgate_client import UntrustedAddress, end_user_ip

PROXIES = ["10.0.0.0/8"]


def environ(peer: str | None, xff: str | None = None, forwarded: str | None = None) -> Any:
    env: dict[str, Any] = {"REQUEST_METHOD": "POST", "wsgi.version": (1, 0)}
    if peer is not None:
        env["REMOTE_ADDR"] = peer
    if xff is not None:
        env["HTTP_X_FORWARDED_FOR"] = xff
    if forwarded is not None:
        env["HTTP_FORWARDED"] = forwarded
    return env


def scope(peer: str | None, *headers: tuple[str, str]) -> dict[str, Any]:
    return {
        "type": "http",
        "client": (peer, 50000) if peer is not None else None,
        "headers": [(name.encode(), value.encode("latin-1")) for name, value in headers],
    }


def test_without_trusted_proxies_the_peer_is_the_user_and_xff_is_ignored() -> None:
    assert end_user_ip(environ("198.51.100.1", "203.0.113.9")) == "198.51.100.1"


def test_a_spoofed_left_most_hop_is_never_used() -> None:
    request = environ("10.0.0.2", "6.6.6.6, 198.51.100.1")
    assert end_user_ip(request, PROXIES) == "198.51.100.1"


def test_a_peer_that_is_not_a_trusted_proxy_is_the_user_whatever_it_forwards() -> None:
    assert end_user_ip(environ("198.51.100.1", "203.0.113.9"), PROXIES) == "198.51.100.1"


def test_several_trusted_hops_are_walked_from_the_right() -> None:
    request = environ("10.0.0.1", "6.6.6.6, 198.51.100.1, 10.1.0.1, 10.2.0.1")
    assert end_user_ip(request, PROXIES) == "198.51.100.1"
    two_ranges = environ("192.168.1.1", "198.51.100.2, 172.16.0.5")
    assert end_user_ip(two_ranges, ["192.168.1.0/24", "172.16.0.0/12"]) == "198.51.100.2"


def test_repeated_header_lines_are_one_list_in_order() -> None:
    request = scope(
        "10.0.0.1",
        ("X-Forwarded-For", "6.6.6.6"),
        ("x-forwarded-for", "198.51.100.3, 10.0.0.9"),
    )
    assert end_user_ip(request, PROXIES) == "198.51.100.3"


def test_ipv6_addresses_ports_brackets_and_mapped_ipv4() -> None:
    assert end_user_ip(environ("2001:DB8::0:1")) == "2001:db8::1"
    assert end_user_ip(environ("::ffff:198.51.100.4")) == "198.51.100.4"
    v6_proxies = ["fd00::/8", "10.0.0.0/8"]
    request = environ("fd00::1", "[2001:db8::5]:4711, 10.0.0.3:8080")
    assert end_user_ip(request, v6_proxies) == "2001:db8::5"
    assert end_user_ip(environ("10.0.0.1", "198.51.100.5:443"), PROXIES) == "198.51.100.5"
    assert end_user_ip(environ("10.0.0.1", "2001:db8::6"), PROXIES) == "2001:db8::6"
    assert end_user_ip(environ("10.0.0.1", "::ffff:198.51.100.7"), PROXIES) == "198.51.100.7"


def test_the_forwarded_header_when_the_proxies_write_that_one() -> None:
    value = 'for=6.6.6.6, for="[2001:db8:cafe::17]:4711";proto=https, for=10.0.0.7;by=10.0.0.1'
    request = environ("10.0.0.1", "198.51.100.99", value)
    assert end_user_ip(request, PROXIES, header="forwarded") == "2001:db8:cafe::17"
    # ... and only then: a client-sent Forwarded is ignored by default.
    assert end_user_ip(request, PROXIES) == "198.51.100.99"
    quoted = environ("10.0.0.1", forwarded='For="198.51.100.8";proto="a;b,c"')
    assert end_user_ip(quoted, PROXIES, header="forwarded") == "198.51.100.8"
    hidden = environ("10.0.0.1", forwarded="for=_hidden, for=10.0.0.9")
    with pytest.raises(UntrustedAddress):
        end_user_ip(hidden, PROXIES, header="forwarded")  # the proxy 10.0.0.9 is the client


def test_private_loopback_and_link_local_addresses_are_refused_unless_allowed() -> None:
    for address in (
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.1.1",
        "100.64.0.1",
        "::1",
        "fd12::1",
        "fe80::1",
        "0.0.0.0",
    ):
        with pytest.raises(UntrustedAddress, match="trusted_proxies"):
            end_user_ip(environ(address))
        assert end_user_ip(environ(address), allow_private=True) == address
    with pytest.raises(UntrustedAddress, match="private"):
        end_user_ip(environ("10.0.0.1", "192.168.7.7"), PROXIES)
    assert end_user_ip(environ("10.0.0.1", "192.168.7.7"), PROXIES, allow_private=True) == (
        "192.168.7.7"
    )
    with pytest.raises(UntrustedAddress):
        end_user_ip(environ("fe80::1%eth0"))
    assert end_user_ip(environ("fe80::1%eth0"), allow_private=True) == "fe80::1"


def test_every_hop_trusted_means_the_request_came_from_inside() -> None:
    with pytest.raises(UntrustedAddress, match="trusted proxy"):
        end_user_ip(environ("10.0.0.1", "10.0.0.2"), PROXIES)
    with pytest.raises(UntrustedAddress):
        end_user_ip(environ("10.0.0.1"), PROXIES)


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        ",,,",
        "not-an-ip",
        "198.51.100.1 198.51.100.2",
        "198.51.100.1\xa0",
        "[2001:db8::1",
        "2001:db8::1:80:x",
        "999.1.1.1",
        "198.51.100.1:port",
        "\x00",
        "a" * 10000,
    ],
)
def test_malformed_hops_stop_the_walk_at_the_proxy(garbage: str) -> None:
    """A hop that is not an address is not believed: the proxy that reported it is the
    client (refused as private here), never an address nobody vouched for."""
    request = environ("10.0.0.1", f"198.51.100.1, {garbage}")
    try:
        found = end_user_ip(request, PROXIES)
    except UntrustedAddress:
        return
    assert found == "198.51.100.1"  # empty entries are skipped, nothing else is believed


def test_a_request_without_a_peer_address_is_refused() -> None:
    with pytest.raises(UntrustedAddress, match="no peer"):
        end_user_ip(environ(None, "198.51.100.1"), PROXIES)
    with pytest.raises(UntrustedAddress, match="no peer"):
        end_user_ip(scope(None))
    with pytest.raises(UntrustedAddress, match="no peer"):
        end_user_ip(environ("testclient"))


def test_bad_arguments_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="not an IP address or CIDR"):
        end_user_ip(environ("198.51.100.1"), ["10.0.0.0/33"])
    with pytest.raises(TypeError, match="list"):
        end_user_ip(environ("198.51.100.1"), "10.0.0.0/8")
    with pytest.raises(TypeError, match="WSGI environ"):
        end_user_ip(object())


class DjangoLike:
    def __init__(self, meta: dict[str, Any]) -> None:
        self.META = meta


class FlaskLike:
    def __init__(self, environ: dict[str, Any]) -> None:
        self.environ = environ


class StarletteLike:
    def __init__(self, scope: dict[str, Any]) -> None:
        self.scope = scope


def test_framework_request_objects_are_read_by_shape() -> None:
    env = environ("10.0.0.1", "6.6.6.6, 198.51.100.1")
    assert end_user_ip(DjangoLike(env), PROXIES) == "198.51.100.1"
    assert end_user_ip(FlaskLike(env), PROXIES) == "198.51.100.1"
    asgi = scope("10.0.0.1", ("x-forwarded-for", "6.6.6.6, 198.51.100.1"))
    assert end_user_ip(StarletteLike(asgi), PROXIES) == "198.51.100.1"
    assert end_user_ip(asgi, PROXIES) == "198.51.100.1"


@pytest.mark.usefixtures("django_configured")
def test_real_framework_requests() -> None:
    """With the frameworks themselves (installed with the kit's test extra)."""
    from django.test import RequestFactory
    from starlette.requests import Request as StarletteRequest
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request as WerkzeugRequest

    django_request = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.1"
    )
    assert end_user_ip(django_request, PROXIES) == "198.51.100.1"
    builder = EnvironBuilder(
        headers=[("X-Forwarded-For", "6.6.6.6, 198.51.100.2")],
        environ_base={"REMOTE_ADDR": "10.0.0.1"},
    )
    assert end_user_ip(WerkzeugRequest(builder.get_environ()), PROXIES) == "198.51.100.2"
    asgi = scope("10.0.0.1", ("x-forwarded-for", "6.6.6.6, 198.51.100.3"))
    assert end_user_ip(StarletteRequest(asgi), PROXIES) == "198.51.100.3"
