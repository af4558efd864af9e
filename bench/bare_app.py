"""The comparison point of bench_attack: a bare Starlette app answering every token POST
with a fixed 429, served by the same uvicorn settings as ``passgate serve``."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

BODY = {"error": "too_many_attempts", "error_description": "blocked"}


async def token(request: Request) -> Response:
    await request.body()
    return JSONResponse(BODY, status_code=429)


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def app_factory() -> Starlette:
    return Starlette(
        routes=[
            Route("/oauth/token", token, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ]
    )
