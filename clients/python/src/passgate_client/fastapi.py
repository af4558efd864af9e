"""FastAPI dependencies: the end user's IP of a request, and the verified claims of a
bearer access token; and a handler answering passgate-client errors.

::

    passgate = AsyncPassgateClient(BASE_URL, CLIENT_ID, CLIENT_SECRET)
    client_ip = EndUserIp(trusted_proxies=["10.0.0.0/8"])
    app.add_exception_handler(PassgateError, passgate_error_handler)

    @app.post("/login")
    async def login(form: LoginForm, ip: str = Depends(client_ip)) -> dict[str, str]:
        tokens = await passgate.login(form.email, form.password, end_user_ip=ip)
        ...

    @app.get("/things")
    async def things(claims: dict = Depends(BearerClaims(passgate, "https://api/"))): ...
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse

from passgate_client._async_client import AsyncPassgateClient
from passgate_client._end_user_ip import Header, end_user_ip
from passgate_client._errors import (
    InvalidCredentials,
    InvalidToken,
    PassgateError,
    PasswordLeaked,
    PasswordRejected,
    ServiceUnavailable,
    SignupRefused,
    TooManyAttempts,
    UserBlocked,
)

__all__ = ["BearerClaims", "EndUserIp", "error_status", "passgate_error_handler"]


class EndUserIp:
    """A dependency giving the end user's IP (see :func:`passgate_client.end_user_ip`)."""

    def __init__(
        self,
        trusted_proxies: Sequence[str] = (),
        *,
        allow_private: bool = False,
        header: Header = "x-forwarded-for",
    ) -> None:
        self.trusted_proxies = tuple(trusted_proxies)
        self.allow_private = allow_private
        self.header: Header = header

    def __call__(self, request: Request) -> str:
        return end_user_ip(
            request, self.trusted_proxies, allow_private=self.allow_private, header=self.header
        )


class BearerClaims:
    """A dependency giving the claims of the request's bearer access token for
    ``audience``; 401 with a ``Bearer`` challenge when it is missing or refused."""

    def __init__(self, client: AsyncPassgateClient, audience: str) -> None:
        self.client = client
        self.audience = audience

    async def __call__(self, request: Request) -> dict[str, Any]:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise HTTPException(401, headers={"WWW-Authenticate": "Bearer"})
        try:
            return await self.client.verify_access_token(token.strip(), self.audience)
        except InvalidToken:
            challenge = 'Bearer error="invalid_token"'
            raise HTTPException(401, headers={"WWW-Authenticate": challenge}) from None


def error_status(error: PassgateError) -> int:
    """The status an app answers its own client with for ``error``."""
    if isinstance(error, InvalidCredentials | InvalidToken):
        return 401
    if isinstance(error, TooManyAttempts):
        return 429
    if isinstance(error, PasswordLeaked | PasswordRejected | SignupRefused):
        return 400
    if isinstance(error, UserBlocked):
        return 403
    if isinstance(error, ServiceUnavailable):
        return 503
    return 500


async def passgate_error_handler(request: Request, error: Exception) -> JSONResponse:
    """``app.add_exception_handler(PassgateError, passgate_error_handler)``: answers
    ``{"error": code, "message": user_message}`` (with ``Retry-After`` when known)."""
    if not isinstance(error, PassgateError):
        raise error
    headers: dict[str, str] = {}
    if isinstance(error, TooManyAttempts) and error.retry_after is not None:
        headers["Retry-After"] = str(int(error.retry_after))
    body = {"error": error.code, "message": error.user_message}
    return JSONResponse(body, status_code=error_status(error), headers=headers)
