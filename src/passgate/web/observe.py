"""The outermost layer of every request: its id, its access line, its metrics; and the
``GET /metrics`` route.

:class:`Observer` runs around the whole ASGI application (the token endpoint too, which
skips Starlette's middleware). For each HTTP request it

- takes the caller's ``X-Request-Id`` when it is sane (1-128 of ``A-Z a-z 0-9 . _ : / + = @
  -``), else makes one, and answers it in ``X-Request-Id``;
- writes one access line: method, path (never the query string, which may hold a
  single-use ticket), status, latency, grant, outcome, ``ip``, ``client_ip``, request id.

It runs only with the access log on (a request id is there to find its line).
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from passgate.observability.listener import bearer_matches
from passgate.observability.metrics import CONTENT_TYPE, Metrics, grant_label, outcome_label
from passgate.observability.notes import NOTE_KEY, RequestNote
from passgate.support.io_pool import RunIo

__all__ = ["REQUEST_ID_HEADER", "Observer", "metrics_routes"]

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")
_MAX_PATH = 256

ConnectingIp = Callable[[str | None, list[str]], str]


class _RequestIds:
    """Unique ids without a random draw per request: a random tag per process (drawn again
    in a forked child) and a counter."""

    def __init__(self) -> None:
        self._renew()
        os.register_at_fork(after_in_child=self._renew)

    def _renew(self) -> None:
        self._tag = secrets.token_hex(6)
        self._count = itertools.count()

    def next(self) -> str:
        return f"{self._tag}{next(self._count) & 0xFFFFFFFF:08x}"


_ids = _RequestIds()


def _incoming_id(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _REQUEST_ID.fullmatch(text) else None
    return None


_UNPRINTABLE = re.compile(r"[^\x21-\x7e]")


def _printable(text: str) -> str:
    """``text`` with anything but visible ASCII percent-encoded: a decoded path may hold a
    line break or a space that would forge a console line."""
    if _UNPRINTABLE.search(text) is None:
        return text
    return _UNPRINTABLE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), text)


def _forwarded_for(headers: list[tuple[bytes, bytes]]) -> list[str]:
    return [value.decode("latin-1") for name, value in headers if name == b"x-forwarded-for"]


class Observer:
    """Request ids and access lines around each HTTP request (the application calls it
    with itself as ``app``). The metrics of requests are the token endpoint's and the
    application's own (:class:`~passgate.web.token_endpoint.PassgateApp`)."""

    def __init__(
        self,
        *,
        connecting_ip: ConnectingIp,
        access_log: Any,
    ) -> None:
        self._connecting_ip = connecting_ip
        self._access = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
        started = time.perf_counter()
        request_id = _incoming_id(scope["headers"]) or _ids.next()
        id_header = (b"x-request-id", request_id.encode())
        note = RequestNote()
        scope[NOTE_KEY] = note
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            self._after(scope, note, status, time.perf_counter() - started, request_id)

    def _after(
        self, scope: Scope, note: RequestNote, status: int, seconds: float, request_id: str
    ) -> None:
        method: str = scope["method"]
        path: str = scope["path"]
        token_request = path == "/oauth/token" and method == "POST"
        client_ip = note.client_ip
        if client_ip is None:
            peer = scope.get("client")
            client_ip = self._connecting_ip(
                peer[0] if peer else None, _forwarded_for(scope["headers"])
            )
        self._access.info(
            "request",
            method=_printable(method),
            path=_printable(path[:_MAX_PATH]),
            status=status,
            latency_ms=round(seconds * 1000, 3),
            grant=grant_label(note.grant) if token_request else None,
            outcome=outcome_label(note.outcome) if token_request else note.outcome,
            ip=note.ip or client_ip,
            client_ip=client_ip,
            client_id=note.client_id,
            request_id=request_id,
        )


def metrics_routes(metrics: Metrics, *, token: str | None, run_io: RunIo) -> list[Route]:
    """``GET /metrics``: the text format of every value of the server's workers; with a
    ``token``, only for ``Authorization: Bearer <token>`` (401 otherwise)."""

    async def serve_metrics(request: Request) -> Response:
        if token is not None and not bearer_matches(request.headers.get("authorization"), token):
            return Response(
                "401 Unauthorized: send Authorization: Bearer <PASSGATE_METRICS_TOKEN>\n",
                status_code=401,
                media_type="text/plain",
                headers={"www-authenticate": 'Bearer realm="metrics"', "cache-control": "no-store"},
            )
        body = await run_io(metrics.exposition)
        return Response(body, media_type=CONTENT_TYPE, headers={"cache-control": "no-store"})

    return [Route("/metrics", serve_metrics, methods=["GET"])]
