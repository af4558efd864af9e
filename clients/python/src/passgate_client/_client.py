"""``PassgateClient``: the synchronous client (over :mod:`passgate_client._protocol`)."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx

from passgate_client._errors import PassgateError, ServiceUnavailable
from passgate_client._jwks import KeyCache, token_kid, verify_claims
from passgate_client._protocol import (
    DEFAULT_CONNECTION,
    AuthMethod,
    Call,
    Protocol,
    SignupResult,
    Tokens,
)

__all__ = ["PassgateClient"]

DEFAULT_TIMEOUT = 10.0


class PassgateClient:
    """A server-side app's client of passgate (a confidential client: id and secret).

    ``base_url`` is where the app reaches passgate (``https://auth.example.com/``);
    ``issuer`` is the ``iss`` tokens must carry, by default what passgate's discovery
    document says. Pass ``http_client`` to share an :class:`httpx.Client` (its settings
    are used as they are). Safe to share between threads.
    """

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        auth_method: AuthMethod = "client_secret_post",
        issuer: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        http_client: httpx.Client | None = None,
        jwks_cache_ttl: float = 600.0,
        jwks_refetch_interval: float = 30.0,
        leeway: int = 30,
    ) -> None:
        self._protocol = Protocol(base_url, client_id, client_secret, auth_method=auth_method)
        self._own_http = http_client is None
        self._http = http_client or httpx.Client(timeout=timeout)
        self._issuer = issuer
        self._keys = KeyCache(cache_ttl=jwks_cache_ttl, refetch_interval=jwks_refetch_interval)
        self._leeway = leeway

    def __repr__(self) -> str:
        return f"<PassgateClient {self._protocol.base_url} client {self._protocol.client_id}>"

    @property
    def client_id(self) -> str:
        return self._protocol.client_id

    def _send(self, call: Call) -> Any:
        try:
            response = self._http.send(self._protocol.request(call))
        except httpx.HTTPError as exc:
            raise self._protocol.transport_error(call, exc) from None
        return self._protocol.answer(call, response)

    # -- the Authentication API -----------------------------------------------------------
    def login(
        self,
        username: str,
        password: str,
        *,
        end_user_ip: str,
        realm: str | None = None,
        audience: str | None = None,
        scope: str | None = None,
    ) -> Tokens:
        """Exchange the user's username (or email) and password for tokens, forwarding
        ``end_user_ip`` (see :func:`~passgate_client.end_user_ip`) so passgate's attack
        protection counts this user's attempts, not the app server's. ``realm`` names the
        database connection (the password-realm grant); else passgate's default one."""
        call = self._protocol.login(
            username, password, end_user_ip=end_user_ip, realm=realm, audience=audience, scope=scope
        )
        return self._protocol.tokens(self._send(call))

    def refresh(
        self, refresh_token: str, *, end_user_ip: str | None = None, scope: str | None = None
    ) -> Tokens:
        """New tokens for a refresh token (it rotates: keep the new ``refresh_token``)."""
        call = self._protocol.refresh(refresh_token, end_user_ip=end_user_ip, scope=scope)
        return self._protocol.tokens(self._send(call))

    def revoke(self, refresh_token: str) -> None:
        """Revoke a refresh token (and the tokens rotated from it), e.g. at logout."""
        self._send(self._protocol.revoke(refresh_token))

    def userinfo(self, access_token: str) -> dict[str, Any]:
        """The OIDC claims of the access token's user (``sub``, ``email``, …)."""
        return self._protocol.claims(self._send(self._protocol.userinfo(access_token)))

    def signup(
        self,
        email: str,
        password: str,
        *,
        connection: str = DEFAULT_CONNECTION,
        username: str | None = None,
        given_name: str | None = None,
        family_name: str | None = None,
        name: str | None = None,
        nickname: str | None = None,
        picture: str | None = None,
        user_metadata: Mapping[str, str] | None = None,
    ) -> SignupResult:
        """Create a user in a database connection (``/dbconnections/signup``)."""
        fields = {
            "username": username,
            "given_name": given_name,
            "family_name": family_name,
            "name": name,
            "nickname": nickname,
            "picture": picture,
            "user_metadata": dict(user_metadata) if user_metadata is not None else None,
        }
        call = self._protocol.signup(email, password, connection=connection, fields=fields)
        return self._protocol.signed_up(self._send(call))

    def change_password(self, email: str, *, connection: str = DEFAULT_CONNECTION) -> None:
        """Email the user a password reset link (the same answer whether or not an
        account has that address)."""
        self._send(self._protocol.change_password(email, connection=connection))

    # -- verifying access tokens ----------------------------------------------------------
    def issuer(self) -> str:
        """The issuer tokens must carry (from discovery, fetched once, unless given)."""
        if self._issuer is None:
            document = self._send(self._protocol.discovery())
            issuer = document.get("issuer") if isinstance(document, dict) else None
            if not isinstance(issuer, str):
                raise ServiceUnavailable("invalid_response", "discovery has no issuer")
            self._issuer = issuer
        return self._issuer

    def verify_access_token(self, token: str, audience: str) -> dict[str, Any]:
        """The claims of an access token for ``audience`` issued by passgate, once its
        signature (with passgate's published keys), ``iss``, ``aud`` and ``exp`` are
        checked; else :class:`~passgate_client.InvalidToken`. No request to passgate is
        made while the cached key set knows the token's key."""
        kid = token_kid(token)
        issuer = self.issuer()
        with self._keys.lock:
            if self._keys.needs_fetch(kid):
                self._keys.attempt()
                try:
                    self._keys.update(self._send(self._protocol.jwks()))
                except PassgateError:
                    if not self._keys.has_keys:
                        raise
                    # passgate unreachable: go on with the keys known (stale beats down).
            keys = self._keys.key_set()
        return verify_claims(token, keys, issuer=issuer, audience=audience, leeway=self._leeway)

    # -- lifetime --------------------------------------------------------------------------
    def close(self) -> None:
        if self._own_http:
            self._http.close()

    def __enter__(self) -> PassgateClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
