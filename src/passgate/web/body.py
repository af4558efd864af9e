"""Reading request bodies with a size cap."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.types import Receive

from passgate.errors import BodyTooLarge, InvalidRequest

__all__ = ["read_asgi_body", "read_body"]


async def read_asgi_body(headers: Mapping[str, str], receive: Receive, limit: int) -> bytes:
    """The body of an ASGI request; over ``limit`` bytes (declared or sent) is a 413."""
    declared = headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise InvalidRequest("Malformed Content-Length header")
        if int(declared) > limit:
            raise BodyTooLarge(f"The request body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise InvalidRequest("The client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"The request body is larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def read_body(request: Request, limit: int) -> bytes:
    return await read_asgi_body(request.headers, request.receive, limit)
