"""``POST /oauth/token``, ``POST /oauth/revoke``, ``GET /userinfo`` and discovery."""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from passgate.domain.models import GRANT_TYPES, User
from passgate.errors import InvalidToken, MissingToken, OAuthError, TokenError
from passgate.keys.ring import KeyRing
from passgate.oauth.minting import Minter, userinfo_claims
from passgate.oauth.request import parse_basic, parse_body
from passgate.oauth.scopes import split_scope
from passgate.oauth.service import ConnectionFacts, TokenService
from passgate.storage.directory import Directory
from passgate.support.io_pool import RunIo
from passgate.web.body import read_body
from passgate.web.errors import error_response
from passgate.web.responses import NO_STORE, JSONResponse
from passgate.web.token_endpoint import ConnectingIp, TokenEndpoint

__all__ = ["oauth_routes"]

logger = logging.getLogger("passgate.web")


def oauth_routes(
    *,
    service: TokenService,
    token_endpoint: TokenEndpoint,
    connecting_ip: ConnectingIp,
    keys: KeyRing,
    minter: Minter,
    issuer: str,
    directory: Directory,
    run_io: RunIo,
    max_body_bytes: int,
) -> list[Route]:
    limit = max_body_bytes

    async def revoke(request: Request) -> Response:
        try:
            body = await read_body(request, limit)
            params = parse_body(request.headers.get("content-type"), body)
            peer = request.client.host if request.client else None
            facts = ConnectionFacts(
                client_ip=connecting_ip(peer, request.headers.getlist("x-forwarded-for")),
                user_agent=request.headers.get("user-agent"),
            )
            await service.revoke(params, parse_basic(request.headers), facts)
        except OAuthError as exc:
            return error_response(exc)
        return Response(status_code=200, headers=NO_STORE)

    def token_user(token: str) -> tuple[User, dict[str, Any]]:
        """The user of a valid access token and its claims, or :class:`InvalidToken`
        (blocking: the keys may reload, the user is read)."""
        claims = keys.verify(token, audience=minter.userinfo_audience, issuer=issuer)
        user = directory.get_user(str(claims.get("sub")))
        if user is None or user.blocked:
            raise InvalidToken("the token's user is gone or blocked")
        return user, claims

    async def userinfo(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        try:
            if scheme.lower() != "bearer" or not token.strip():
                raise MissingToken()
            user, claims = await run_io(token_user, token.strip())
        except TokenError as exc:
            return error_response(exc)
        scopes = split_scope(str(claims.get("scope", "")))
        return JSONResponse(userinfo_claims(user, scopes), headers=NO_STORE)

    async def openid_configuration(request: Request) -> Response:
        document: dict[str, Any] = {
            "issuer": issuer,
            "token_endpoint": issuer + "oauth/token",
            "revocation_endpoint": issuer + "oauth/revoke",
            "userinfo_endpoint": issuer + "userinfo",
            "jwks_uri": issuer + ".well-known/jwks.json",
            "grant_types_supported": list(GRANT_TYPES),
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "claims_supported": [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "name",
                "nickname",
                "preferred_username",
                "email",
                "email_verified",
                "updated_at",
            ],
        }
        return JSONResponse(document, headers={"Cache-Control": "public, max-age=300"})

    async def jwks(request: Request) -> Response:
        public = await run_io(keys.jwks)
        return JSONResponse(public, headers={"Cache-Control": "public, max-age=300"})

    return [
        Route("/oauth/token", token_endpoint, methods=["POST"]),
        Route("/oauth/revoke", revoke, methods=["POST"]),
        Route("/userinfo", userinfo, methods=["GET", "POST"]),
        Route("/.well-known/openid-configuration", openid_configuration, methods=["GET"]),
        Route("/.well-known/jwks.json", jwks, methods=["GET"]),
    ]
