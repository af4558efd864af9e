"""``AsyncPassgateClient``: the asynchronous client (over :mod:`passgate_client._protocol`)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx

from passgate_client._client import DEFAULT_TIMEOUT
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

__all__ = ["AsyncPassgateClient"]


class AsyncPassgateClient:
    """:class:`~passgate_client.PassgateClient` for asyncio apps: the same calls, awaited.
    Pass ``http_client`` to share an :class:`httpx.AsyncClient`."""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        auth_method: AuthMethod = "client_secret_post",
        issuer: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        http_client: httpx.AsyncClient | None = None,
        jwks_cache_ttl: float = 600.0,
        jwks_refetch_interval: float = 30.0,
        leeway: int = 30,
    ) -> None:
        self._protocol = Protocol(base_url, client_id, client_secret, auth_method=auth_method)
        self._own_http = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=timeout)
        self._issuer = issuer
        self._keys = KeyCache(cache_ttl=jwks_cache_ttl, refetch_interval=jwks_refetch_interval)
        self._keys_lock: asyncio.Lock | None = None
        self._leeway = leeway

    def __repr__(self) -> str:
        return f"<AsyncPassgateClient {self._protocol.base_url} client {self._protocol.client_id}>"

    @property
    def client_id(self) -> str:
        return self._protocol.client_id

    async def _send(self, call: Call) -> Any:
        try:
            response = await self._http.send(self._protocol.request(call))
        except httpx.HTTPError as exc:
            raise self._protocol.transport_error(call, exc) from None
        return self._protocol.answer(call, response)

    async def login(
        self,
        username: str,
        password: str,
        *,
        end_user_ip: str,
        realm: str | None = None,
        audience: str | None = None,
        scope: str | None = None,
    ) -> Tokens:
        """See :meth:`PassgateClient.login <passgate_client.PassgateClient.login>`."""
        call = self._protocol.login(
            username, password, end_user_ip=end_user_ip, realm=realm, audience=audience, scope=scope
        )
        return self._protocol.tokens(await self._send(call))

    async def refresh(
        self, refresh_token: str, *, end_user_ip: str | None = None, scope: str | None = None
    ) -> Tokens:
        call = self._protocol.refresh(refresh_token, end_user_ip=end_user_ip, scope=scope)
        return self._protocol.tokens(await self._send(call))

    async def revoke(self, refresh_token: str) -> None:
        await self._send(self._protocol.revoke(refresh_token))

    async def userinfo(self, access_token: str) -> dict[str, Any]:
        return self._protocol.claims(await self._send(self._protocol.userinfo(access_token)))

    async def signup(
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
        return self._protocol.signed_up(await self._send(call))

    async def change_password(self, email: str, *, connection: str = DEFAULT_CONNECTION) -> None:
        await self._send(self._protocol.change_password(email, connection=connection))

    async def issuer(self) -> str:
        if self._issuer is None:
            document = await self._send(self._protocol.discovery())
            issuer = document.get("issuer") if isinstance(document, dict) else None
            if not isinstance(issuer, str):
                raise ServiceUnavailable("invalid_response", "discovery has no issuer")
            self._issuer = issuer
        return self._issuer

    async def verify_access_token(self, token: str, audience: str) -> dict[str, Any]:
        """See :meth:`PassgateClient.verify_access_token
        <passgate_client.PassgateClient.verify_access_token>`."""
        kid = token_kid(token)
        issuer = await self.issuer()
        if self._keys_lock is None:
            self._keys_lock = asyncio.Lock()
        async with self._keys_lock:
            if self._keys.needs_fetch(kid):
                self._keys.attempt()
                try:
                    self._keys.update(await self._send(self._protocol.jwks()))
                except PassgateError:
                    if not self._keys.has_keys:
                        raise
            keys = self._keys.key_set()
        return verify_claims(token, keys, issuer=issuer, audience=audience, leeway=self._leeway)

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncPassgateClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
