"""The comparison points of the benchmarks: bare Starlette apps served by the same
uvicorn settings as ``passgate serve`` (its HTTP protocol included).

- ``POST /oauth/token`` (bench_attack): a fixed 429 for every request.
- ``POST /floor/token`` (bench_token): the least a Python password login can do. It parses
  the form, verifies the password with argon2id in a thread pool with one thread per core,
  and signs an RS256 access token. There is no client, no database, no attack protection
  and no event log.

    python bench/bare_app.py --port 8001 [--workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qsl

import uvicorn
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from passgate.support.passwords import PasswordHasher
from setup_tenant import PASSWORD

BODY = {"error": "too_many_attempts", "error_description": "blocked"}

_HASHER = PasswordHasher()  # passgate's parameters: m=19456 KiB, t=2, p=1
_STORED = _HASHER.hash(PASSWORD)
_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_POOL = ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="floor-hash")


async def token(request: Request) -> Response:
    await request.body()
    return JSONResponse(BODY, status_code=429)


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


_HEADER = _b64(b'{"alg":"RS256","typ":"JWT","kid":"floor"}')


def _login(username: str, password: str) -> str | None:
    """Verify, then sign a compact JWT straight with the RSA key."""
    if not _HASHER.verify(_STORED, password):
        return None
    now = int(time.time())
    claims = {"iss": "floor", "sub": username, "aud": "floor", "iat": now, "exp": now + 3600}
    signing_input = _HEADER + b"." + _b64(json.dumps(claims).encode())
    signature = _KEY.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return (signing_input + b"." + _b64(signature)).decode()


async def floor_token(request: Request) -> Response:
    form = dict(parse_qsl((await request.body()).decode()))
    loop = asyncio.get_running_loop()
    access_token = await loop.run_in_executor(
        _POOL, _login, form.get("username", ""), form.get("password", "")
    )
    if access_token is None:
        return JSONResponse({"error": "invalid_grant"}, status_code=403)
    return JSONResponse(
        {"access_token": access_token, "token_type": "Bearer", "expires_in": 3600},
        headers={"cache-control": "no-store"},
    )


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def app_factory() -> Starlette:
    return Starlette(
        routes=[
            Route("/oauth/token", token, methods=["POST"]),
            Route("/floor/token", floor_token, methods=["POST"]),
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
