"""Who calls the Management API: the bearer token check and the caller it yields.

A call is accepted with an access token that passgate signed (one of the published keys,
RS256 or ES256), whose ``iss`` is the tenant's issuer, whose ``aud`` is (or contains) the
Management API's identifier, that has not expired (``exp``) and is not from the future
(``nbf``, ``iat``, with a minute of leeway for clocks of other instances), and that was
issued by the client-credentials grant to a client that still exists: ``gty`` is
``client-credentials`` and ``sub`` is ``<azp>@clients``, as ``oauth.minting`` writes them.
A user's token is refused, whatever its audience and scopes.

Every refusal is a 401 with Auth0's messages. Scopes are checked per operation
(:meth:`Caller.require`): 403 ``insufficient_scope``.

Verifying costs about 0.25 ms of CPU (an RS256 signature) and may reload the keys from the
database, so :meth:`ManagementAccess.authenticate` is blocking: callers run it in the I/O
pool, never on the event loop.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from passgate.domain.clock import Clock
from passgate.domain.management_api import management_audience
from passgate.domain.models import Client
from passgate.errors import InvalidToken
from passgate.keys.ring import BadSignature
from passgate.management.errors import InsufficientScope, Unauthenticated

__all__ = ["MAX_TOKEN_LENGTH", "Caller", "ManagementAccess", "TokenVerifier"]

#: Longer bearer values are refused unread (our tokens are well under 2 KB).
MAX_TOKEN_LENGTH = 8192
#: How far in the future ``nbf`` and ``iat`` may be (another instance's clock).
CLOCK_LEEWAY_S = 60.0
#: What the client-credentials grant writes in ``gty`` (``oauth.service``).
CLIENT_CREDENTIALS_GTY = "client-credentials"
_SHOWN = 200

MISSING = "Missing authentication"
INVALID = "Invalid token"
BAD_SIGNATURE = "Invalid signature received for JSON Web Token validation"
EXPIRED = "Expired token received for JSON Web Token validation"


class TokenVerifier(Protocol):
    """``keys.ring.KeyRing.signed_claims``: the claims of a token we signed."""

    def signed_claims(self, token: str) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Caller:
    """An accepted Management API token: the client that holds it and its scopes."""

    client_id: str
    client_name: str
    scopes: frozenset[str]
    #: The token's ``scope`` claim as sent (for the audit event).
    scope: str
    #: 32 hex digits of the token's SHA-256: the rate-limit bucket. Never the token.
    token_key: str

    def require(self, any_of: Iterable[str]) -> None:
        """Refuse (403) unless the token holds one of ``any_of``."""
        needed = tuple(any_of)
        if needed and self.scopes.isdisjoint(needed):
            raise InsufficientScope(needed)


def _refuse(message: str) -> Unauthenticated:
    return Unauthenticated(message)


def _shown(value: object) -> str:
    """A claim's value for a message, cut short (a list as its items, space-separated)."""
    text = " ".join(map(str, value)) if isinstance(value, list) else str(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _refuse(f"{INVALID}: {name} is not a number")
    return float(value)


def bearer_token(values: list[str]) -> str:
    """The token of the one ``Authorization: Bearer …`` header; 401 otherwise."""
    if not values:
        raise Unauthenticated(MISSING, code="missing_authentication")
    if len(values) > 1:
        raise _refuse(f"{INVALID}: send one Authorization header")
    scheme, _, token = values[0].strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated(MISSING, code="missing_authentication")
    if len(token) > MAX_TOKEN_LENGTH or not token.isascii() or any(c.isspace() for c in token):
        raise _refuse(INVALID)
    return token


class ManagementAccess:
    """Checks bearer tokens for the Management API (see the module's docstring)."""

    def __init__(
        self,
        *,
        keys: TokenVerifier,
        issuer: str,
        clients: Callable[[str], Client | None],
        clock: Clock,
    ) -> None:
        self._keys = keys
        self.issuer = issuer
        self.audience = management_audience(issuer)
        self._clients = clients
        self._clock = clock

    def authenticate(self, authorization: list[str]) -> Caller:
        """The caller of a request with these ``Authorization`` header values (blocking)."""
        token = bearer_token(authorization)
        try:
            claims = self._keys.signed_claims(token)
        except BadSignature:
            raise _refuse(BAD_SIGNATURE) from None
        except InvalidToken:
            raise _refuse(INVALID) from None
        self._check_claims(claims)
        client_id = claims["azp"]
        client = self._clients(client_id)
        if client is None:
            raise _refuse(f"{INVALID}: its client no longer exists")
        scope = claims.get("scope", "")
        if not isinstance(scope, str):
            raise _refuse(f"{INVALID}: scope is not a string")
        return Caller(
            client_id=client.client_id,
            client_name=client.name,
            scopes=frozenset(scope.split()),
            scope=scope,
            token_key=hashlib.sha256(token.encode("ascii")).hexdigest()[:32],
        )

    def _check_claims(self, claims: dict[str, Any]) -> None:
        if claims.get("iss") != self.issuer:
            raise _refuse(f"Bad issuer: {_shown(claims.get('iss'))}")
        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience
        if not isinstance(audiences, list) or self.audience not in audiences:
            raise _refuse(f"Bad audience: {_shown(audiences)}")
        now = self._clock()
        expires = _number(claims, "exp")
        if expires is None:
            raise _refuse(f"{INVALID}: exp is missing")
        if expires <= now:
            raise _refuse(EXPIRED)
        issued = _number(claims, "iat")
        if issued is None or issued > now + CLOCK_LEEWAY_S:
            raise _refuse(f"{INVALID}: iat is missing or in the future")
        not_before = _number(claims, "nbf")
        if not_before is not None and not_before > now + CLOCK_LEEWAY_S:
            raise _refuse(f"{INVALID}: the token is not valid yet (nbf)")
        client_id = claims.get("azp")
        if (
            claims.get("gty") != CLIENT_CREDENTIALS_GTY
            or not isinstance(client_id, str)
            or claims.get("sub") != f"{client_id}@clients"
        ):
            raise _refuse(f"{INVALID}: only client credentials tokens may call this API")
