"""Verifying passgate's access tokens with a cached JWKS (sans-I/O: the clients fetch).

The key set is fetched on first use and kept ``cache_ttl`` seconds. A token signed with a
``kid`` the cache lacks (passgate rotated its keys) makes the client fetch again, at most
once every ``refetch_interval`` seconds, so a flood of forged ``kid``s cannot turn the app
into a JWKS-fetching machine.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from passgate_client._errors import InvalidToken, ServiceUnavailable

__all__ = ["ALGORITHMS", "KeyCache", "verify_claims"]

#: Asymmetric algorithms passgate signs with; never ``none`` or an HMAC one.
ALGORITHMS = ("RS256", "ES256")


def _invalid(reason: str) -> InvalidToken:
    return InvalidToken("invalid_token", reason)


def token_kid(token: str) -> str | None:
    """The ``kid`` of a compact JWS (unverified), or raises :class:`InvalidToken`."""
    if not isinstance(token, str) or token.count(".") != 2:
        raise _invalid("not a JWT")
    try:
        header = jws.extract_compact(token.encode("ascii")).headers()
    except (JoseError, ValueError, UnicodeError, json.JSONDecodeError):
        raise _invalid("malformed JWT") from None
    kid = header.get("kid")
    return kid if isinstance(kid, str) else None


class KeyCache:
    """The key set and when it was fetched; decides when to fetch again."""

    def __init__(
        self,
        *,
        cache_ttl: float = 600.0,
        refetch_interval: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cache_ttl = cache_ttl
        self.refetch_interval = refetch_interval
        self._clock = clock
        self._keys: KeySet | None = None
        self._kids: frozenset[str] = frozenset()
        self._attempted_at: float | None = None
        self.lock = threading.Lock()

    def needs_fetch(self, kid: str | None) -> bool:
        """Whether to fetch the key set before verifying a token with ``kid``."""
        if self._attempted_at is None:
            return True
        age = self._clock() - self._attempted_at
        if self._keys is None:
            return age >= self.refetch_interval  # the last fetch failed: not at once again
        if age >= self.cache_ttl:
            return True
        return kid is not None and kid not in self._kids and age >= self.refetch_interval

    def attempt(self) -> None:
        """A fetch starts now (it counts against the rate even if it fails)."""
        self._attempted_at = self._clock()

    def update(self, document: Any) -> None:
        """Keep a fetched JWKS document."""
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise ServiceUnavailable("invalid_response", "the JWKS answer is not a key set")
        usable = [
            key
            for key in document["keys"]
            if isinstance(key, dict) and key.get("use", "sig") == "sig" and key.get("kty") != "oct"
        ]
        try:
            keys = KeySet.import_key_set({"keys": usable})
        except (JoseError, ValueError, TypeError):
            raise ServiceUnavailable(
                "invalid_response", "the JWKS holds an unreadable key"
            ) from None
        self._keys = keys
        self._kids = frozenset(str(key["kid"]) for key in usable if "kid" in key)

    @property
    def has_keys(self) -> bool:
        return self._keys is not None

    def key_set(self) -> KeySet:
        if self._keys is None:
            raise _invalid("no signing keys are known")
        return self._keys


def verify_claims(
    token: str,
    keys: KeySet,
    *,
    issuer: str,
    audience: str,
    leeway: int,
    now: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """The claims of ``token`` once its signature, ``iss``, ``aud`` and ``exp`` (and
    ``nbf``, ``iat`` when present) check out; else :class:`InvalidToken`."""
    try:
        decoded = jwt.decode(token, keys, algorithms=list(ALGORITHMS))
    except JoseError as exc:
        raise _invalid(f"signature or format refused ({exc.error})") from None
    except (ValueError, TypeError):
        raise _invalid("malformed JWT") from None
    claims = dict(decoded.claims)
    registry = jwt.JWTClaimsRegistry(
        now=lambda: int(now()),
        leeway=leeway,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": audience},
        exp={"essential": True},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise _invalid(f"claims refused ({exc.error}: {exc.description})") from None
    return claims
