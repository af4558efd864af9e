"""What ``passgate doctor`` finds in recent events: whose IP each client's logins count
against, read back from the event log (SPEC §2). Pure: events and clients in, findings out.

Each check is a function of one client's events (the password exchanges, ``sepft`` and
``fepft``, newest first) and its record (None when the client was deleted since), and
answers at most one :class:`Finding` with a stable ``code``. A finding says what is wrong
in plain words and how to fix it; it names clients and IP addresses, never a user, a
secret or a token.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

from passgate.domain.client_ip import (
    FORWARDED_FOR_HEADER,
    IGNORED_NO_SECRET,
    IGNORED_PUBLIC_CLIENT,
    IGNORED_UNTRUSTED_CLIENT,
    parse_ip,
)
from passgate.domain.events import Event
from passgate.domain.models import PASSWORD_REALM, Client

__all__ = [
    "ENOUGH_LOGINS",
    "FEW_IPS",
    "LOGIN_EVENTS",
    "MANY_USERS",
    "Finding",
    "Severity",
    "client_findings",
    "exit_status",
    "is_internal_ip",
    "password_grant_findings",
]

Severity = Literal["error", "warning", "info"]
_ORDER = {"error": 0, "warning": 1, "info": 2}

#: The events the client checks read: password exchanges, successful and failed.
LOGIN_EVENTS = ("sepft", "fepft")
#: Logins of a client before "none of them …" means something.
ENOUGH_LOGINS = 5
#: Distinct users that make "all from one IP" (or from :data:`FEW_IPS`) suspicious.
MANY_USERS = 10
FEW_IPS = 3
_TRUST_FIX = (
    "send the end user's IP in the auth0-forwarded-for header of every token request "
    "(node-auth0: the forwardedFor option; plain HTTP: `auth0-forwarded-for: <user's IP>`)"
)
#: Addresses an end user on the internet never has: private, shared (carrier NAT),
#: loopback, link-local, unique-local. Documentation ranges are left out on purpose.
_INTERNAL = tuple(
    ipaddress.ip_network(text)
    for text in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "0.0.0.0/8",
        "::1/128",
        "::/128",
        "fe80::/10",
        "fc00::/7",
    )
)


@dataclasses.dataclass(frozen=True, slots=True)
class Finding:
    """One thing wrong (or worth knowing) about the deployment."""

    code: str
    severity: Severity
    message: str
    fix: str
    client_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {"code": self.code, "severity": self.severity}
        if self.client_id is not None:
            found["client_id"] = self.client_id
        found["message"] = self.message
        found["fix"] = self.fix
        return found

    def sort_key(self) -> tuple[int, str, str]:
        return (_ORDER[self.severity], self.code, self.client_id or "")


def exit_status(findings: Iterable[Finding]) -> int:
    """1 when a finding is an error or a warning, else 0."""
    return 1 if any(f.severity in ("error", "warning") for f in findings) else 0


def is_internal_ip(text: str) -> bool:
    """Whether ``text`` is an address no end user on the internet has (private, loopback…)."""
    address = parse_ip(text)
    return address is not None and any(address in network for network in _INTERNAL)


def _name(client_id: str, client: Client | None, events: Sequence[Event]) -> str:
    name = client.name if client is not None else next((e.client_name for e in events), None)
    return f"client {name!r} ({client_id})" if name else f"client {client_id}"


def _user(event: Event) -> str | None:
    return event.user_id or (event.user_name.casefold() if event.user_name else None)


def _forwarded(event: Event) -> bool:
    """The event's ``ip`` came from an honoured auth0-forwarded-for header."""
    return bool(event.ip) and event.ip != event.client_ip


Check = Callable[[str, Client | None, Sequence[Event]], Finding | None]


def _trusted_without_forwarded_ip(
    client_id: str, client: Client | None, events: Sequence[Event]
) -> Finding | None:
    if client is None or not client.is_token_endpoint_ip_header_trusted:
        return None
    plain = [e for e in events if "ip_header" not in e.details]
    if len(plain) < ENOUGH_LOGINS or any(_forwarded(e) for e in plain):
        return None
    return Finding(
        code="trusted_client_without_forwarded_ip",
        severity="warning",
        client_id=client_id,
        message=f"{_name(client_id, client, events)} is trusted to send auth0-forwarded-for, "
        f"but none of its last {len(plain)} logins carried an end user's IP: every user "
        "counts against the application server's IP, so one attacker can get everyone "
        "blocked.",
        fix=f"In the application, {_TRUST_FIX}.",
    )


def _ignored_header(
    client_id: str, client: Client | None, events: Sequence[Event]
) -> Finding | None:
    notes = Counter(str(e.details["ip_header"]) for e in events if "ip_header" in e.details)
    if not notes:
        return None
    note, count = notes.most_common(1)[0]
    name = _name(client_id, client, events)
    if note == IGNORED_PUBLIC_CLIENT:
        code, why = "forwarded_ip_ignored_public_client", "it is a public client (auth method none)"
        fix = (
            "A server-side application is a confidential client: give it a secret "
            "(`passgate clients set-auth-method CLIENT_ID client_secret_post`), send the "
            "secret with every token request and trust its header "
            "(`passgate clients set-trust CLIENT_ID --on`)."
        )
    elif note == IGNORED_UNTRUSTED_CLIENT:
        code, why = "forwarded_ip_ignored_untrusted_client", "the client is not trusted to send it"
        fix = (
            "If this client is your own server-side application, trust its header: "
            "`passgate clients set-trust CLIENT_ID --on` (or PATCH /api/v2/clients/CLIENT_ID "
            '{"is_token_endpoint_ip_header_trusted": true}).'
        )
    elif note == IGNORED_NO_SECRET:
        code, why = (
            "forwarded_ip_ignored_no_secret",
            "the request did not carry the client's secret",
        )
        fix = (
            "Send the client secret (client_secret_post or HTTP Basic) with every token "
            "request that forwards an IP."
        )
    else:
        return None
    return Finding(
        code=code,
        severity="warning",
        client_id=client_id,
        message=f"{name} sent {FORWARDED_FOR_HEADER} in {count} token request(s), and "
        f"passgate ignored it because {why}: those logins counted against the connecting "
        "IP.",
        fix=fix.replace("CLIENT_ID", client_id),
    )


def _internal_forwarded_ips(
    client_id: str, client: Client | None, events: Sequence[Event]
) -> Finding | None:
    forwarded = [e.ip for e in events if _forwarded(e) and e.ip]
    internal = [ip for ip in forwarded if is_internal_ip(ip)]
    if not internal or len(internal) * 2 < len(forwarded):
        return None
    shown = ", ".join(sorted(set(internal))[:5])
    return Finding(
        code="forwarded_ip_internal",
        severity="warning",
        client_id=client_id,
        message=f"{_name(client_id, client, events)} forwarded private or loopback addresses "
        f"as end users' IPs in {len(internal)} of {len(forwarded)} logins ({shown}): that is "
        "the address of a load balancer or proxy in front of the application, not the "
        "user's.",
        fix="In the application, take the end user's IP from your proxy's X-Forwarded-For "
        "(the right-most address your own proxies did not add), not the TCP peer's address.",
    )


def _few_forwarded_ips(
    client_id: str, client: Client | None, events: Sequence[Event]
) -> Finding | None:
    successes = [e for e in events if e.type == "sepft" and _forwarded(e) and e.ip]
    users = {_user(e) for e in successes} - {None}
    ips = Counter(e.ip for e in successes)
    if len(users) < MANY_USERS or len(ips) > FEW_IPS:
        return None
    if all(ip is not None and is_internal_ip(ip) for ip in ips):
        return None  # said by forwarded_ip_internal
    shown = ", ".join(sorted(str(ip) for ip in ips))
    return Finding(
        code="forwarded_ip_same_few",
        severity="warning",
        client_id=client_id,
        message=f"{_name(client_id, client, events)} forwarded only {len(ips)} distinct "
        f"IP(s) ({shown}) for {len(users)} different users' logins: the application likely "
        "forwards its own or a proxy's address.",
        fix="In the application, forward the IP of the browser or device the user is on "
        "(the right-most untrusted X-Forwarded-For hop of the request it received).",
    )


def _shared_connecting_ip(
    client_id: str, client: Client | None, events: Sequence[Event]
) -> Finding | None:
    successes = [e for e in events if e.type == "sepft" and e.ip and e.ip == e.client_ip]
    by_ip: dict[str, set[str]] = defaultdict(set)
    for event in successes:
        user = _user(event)
        if user is not None and event.ip is not None:
            by_ip[event.ip].add(user)
    crowded = {ip: len(users) for ip, users in by_ip.items() if len(users) >= MANY_USERS}
    if not crowded:
        return None
    ip, count = max(crowded.items(), key=lambda item: item[1])
    trusted = client is not None and client.is_token_endpoint_ip_header_trusted
    fix = f"In the application, {_TRUST_FIX}."
    if not trusted:
        fix = (
            f"Make the application a trusted confidential client "
            f"(`passgate clients set-trust {client_id} --on`) and {_TRUST_FIX}."
        )
    return Finding(
        code="shared_ip_many_users",
        severity="error",
        client_id=client_id,
        message=f"{count} different users of {_name(client_id, client, events)} logged in "
        f"from one IP, {ip}, which is also the address that connected to passgate: attack "
        "protection sees them all as one user's IP, so a few wrong passwords from an "
        "attacker block or throttle every one of them.",
        fix=fix,
    )


#: Every check over one client's events, in the order their findings are listed.
CLIENT_CHECKS: tuple[Check, ...] = (
    _shared_connecting_ip,
    _ignored_header,
    _trusted_without_forwarded_ip,
    _internal_forwarded_ips,
    _few_forwarded_ips,
)


def client_findings(events: Iterable[Event], clients: Mapping[str, Client]) -> list[Finding]:
    """What the checks find in ``events`` (password exchanges), client by client."""
    by_client: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        if event.type in LOGIN_EVENTS and event.client_id:
            by_client[event.client_id].append(event)
    found = []
    for client_id, seen in sorted(by_client.items()):
        for check in CLIENT_CHECKS:
            finding = check(client_id, clients.get(client_id), seen)
            if finding is not None:
                found.append(finding)
    return found


def password_grant_findings(clients: Iterable[Client]) -> list[Finding]:
    """A public client allowed the password grant: anyone holding its client_id (shipped
    in an app) can try passwords, and it can never vouch for the end user's IP."""
    found = []
    for client in clients:
        grants = set(client.grant_types) & {"password", PASSWORD_REALM}
        if client.is_confidential or not grants:
            continue
        found.append(
            Finding(
                code="public_client_password_grant",
                severity="warning",
                client_id=client.client_id,
                message=f"client {client.name!r} ({client.client_id}) is public (auth method "
                "none) and allowed the password grant: anyone who has its client_id can try "
                "passwords with it, and its auth0-forwarded-for header is always ignored.",
                fix=f"Give it a secret (`passgate clients set-auth-method {client.client_id} "
                "client_secret_post`) and use it from your server only, or remove the "
                "password grant from it.",
            )
        )
    return found
