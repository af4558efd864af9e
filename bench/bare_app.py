"""The comparison point of bench_attack: a bare Starlette app answering every token POST
with a fixed 429, served by the same uvicorn settings as ``passgate serve`` (its HTTP
protocol included).

    python bench/bare_app.py --port 8001 [--workers 1]
"""

from __future__ import annotations

import argparse

import uvicorn
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    from passgate.web.protocol import HttpProtocol

    uvicorn.run(
        "bare_app:app_factory",
        factory=True,
        port=args.port,
        workers=args.workers,
        http=HttpProtocol,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()
