"""``POST /oauth/token`` as a plain ASGI application.

The busiest endpoint, and the one floods hit, so it skips the framework's request and
response objects, its middleware and its router: :class:`PassgateApp` hands
``POST /oauth/token`` to it directly (everything else goes through Starlette). The same
endpoint is also the route's, so other methods still get 405.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.types import Message, Receive, Scope, Send

from passgate.domain.client_ip import X_FORWARDED_FOR_IGNORED
from passgate.errors import InvalidRequest, OAuthError
from passgate.oauth.request import parse_basic, parse_body
from passgate.oauth.service import ConnectionFacts, TokenService
from passgate.observability.metrics import Metrics
from passgate.observability.notes import note_of
from passgate.web.body import read_asgi_body
from passgate.web.errors import error_body, error_headers, error_status
from passgate.web.observe import Observer
from passgate.web.responses import NO_STORE

__all__ = ["ConnectingIp", "PassgateApp", "TokenEndpoint"]

#: The connecting IP from the TCP peer and the ``X-Forwarded-For`` values (trusted proxies
#: walked from the right): ``Passgate.connecting_ip``.
ConnectingIp = Callable[[str | None, list[str]], str]

logger = logging.getLogger("passgate.web")

_BASE_HEADERS = [
    (b"content-type", b"application/json"),
    *((name.lower().encode(), value.encode()) for name, value in NO_STORE.items()),
]
_SERVER_ERROR = orjson.dumps(
    {"error": "server_error", "error_description": "The server could not answer the request."}
)


#: The request headers the endpoint reads: the first value of each (as Starlette's
#: ``Headers.get``), and every value of the forwarding headers, in order.
_FIRST_VALUE = {
    name.encode(): name
    for name in ("content-type", "content-length", "authorization", "user-agent")
}
_EVERY_VALUE = frozenset((b"x-forwarded-for", b"auth0-forwarded-for"))


def _read_headers(scope: Scope) -> tuple[dict[str, str], dict[bytes, list[str]]]:
    """One pass over the raw headers (ASGI servers send the names in lower case)."""
    first: dict[str, str] = {}
    every: dict[bytes, list[str]] = {}
    for name, value in scope["headers"]:
        if name in _EVERY_VALUE:
            every.setdefault(name, []).append(value.decode("latin-1"))
        else:
            key = _FIRST_VALUE.get(name)
            if key is not None and key not in first:
                first[key] = value.decode("latin-1")
    return first, every


class TokenEndpoint:
    """The ASGI application answering ``POST /oauth/token``."""

    def __init__(
        self,
        *,
        service: TokenService,
        connecting_ip: ConnectingIp,
        max_body_bytes: int,
        server_timing: bool = False,
        trusts_proxies: bool = False,
        metrics: Metrics | None = None,
    ) -> None:
        self._service = service
        self._connecting_ip = connecting_ip
        self._limit = max_body_bytes
        self._server_timing = server_timing
        #: Times each request by grant and outcome (to its last byte handed to the server).
        self._metrics = metrics
        #: Without trusted proxies, an ``X-Forwarded-For`` is noted in the event as ignored
        #: (a proxy in front that passgate does not know of: ``passgate doctor`` says so).
        self._proxy_note = None if trusts_proxies else X_FORWARDED_FOR_IGNORED

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        timings: dict[str, float] = {}
        headers, forwarded = _read_headers(scope)
        client = scope.get("client")
        x_forwarded_for = forwarded.get(b"x-forwarded-for", [])
        facts = ConnectionFacts(
            client_ip=self._connecting_ip(client[0] if client else None, x_forwarded_for),
            forwarded_for=tuple(forwarded.get(b"auth0-forwarded-for", ())),
            user_agent=headers.get("user-agent") or None,
            proxy_note=self._proxy_note if any(map(str.strip, x_forwarded_for)) else None,
        )
        extra: list[tuple[bytes, bytes]] = []
        note = note_of(scope)
        if note is not None:
            note.client_ip = facts.client_ip
        grant: str | None = None
        try:
            try:
                body = await read_asgi_body(headers, receive, self._limit)
                params = parse_body(headers.get("content-type"), body)
                basic = parse_basic(headers)
                timings["parse"] = (time.perf_counter() - started) * 1000
                grant = params.get("grant_type")
            except InvalidRequest as exc:
                self._service.record_malformed(facts, exc)
                raise
            tokens = await self._service.token(params, basic, facts, timings, note)
            status, content, outcome = 200, orjson.dumps(tokens.body()), "success"
        except OAuthError as exc:
            status, content = error_status(exc), orjson.dumps(error_body(exc))
            extra = [
                (name.lower().encode(), value.encode())
                for name, value in error_headers(exc).items()
            ]
            outcome = exc.error
        except Exception:
            logger.exception("the token endpoint failed")
            status, content, outcome = 500, _SERVER_ERROR, "server_error"
        if note is not None:
            note.outcome = outcome
        if self._server_timing:
            timings["total"] = (time.perf_counter() - started) * 1000
            value = ", ".join(f"{name};dur={ms:.3f}" for name, ms in timings.items())
            extra.append((b"server-timing", value.encode()))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    *_BASE_HEADERS,
                    (b"content-length", str(len(content)).encode()),
                    *extra,
                ],
            }
        )
        await send({"type": "http.response.body", "body": content})
        if self._metrics is not None:
            self._metrics.observe_token(grant, outcome, time.perf_counter() - started)


class PassgateApp(Starlette):
    """The Starlette application, answering ``POST /oauth/token`` itself before the
    framework's middleware and router (everything else goes the usual way); the
    ``observer`` (request id, access line, metrics) runs around both.

    A path that matches no route is 404, also when it differs from one by a trailing
    slash: Starlette would redirect it to a URL built from the request's ``Host`` header,
    a host the client chose."""

    def __init__(
        self,
        *,
        token_endpoint: TokenEndpoint,
        observer: Observer | None = None,
        metrics: Metrics | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.router.redirect_slashes = False
        self._token_endpoint = token_endpoint
        self._observer = observer
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._observer is not None and scope["type"] == "http":
            await self._observer(scope, receive, send, self._dispatch)
        else:
            await self._dispatch(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] == "/oauth/token"
        ):
            await self._token_endpoint(scope, receive, send)
        elif self._metrics is not None and scope["type"] == "http" and _is_management(scope):
            await self._counted(self._metrics, scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    async def _counted(self, metrics: Metrics, scope: Scope, receive: Receive, send: Send) -> None:
        """A Management API call, counted by method and status once answered."""
        status = 500

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await super().__call__(scope, receive, send_noting_status)
        finally:
            metrics.count_management(scope["method"], status)


def _is_management(scope: Scope) -> bool:
    path: str = scope["path"]
    return path.startswith("/api/v2/") or path == "/api/v2"
