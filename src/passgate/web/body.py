"""Reading request bodies with a size cap."""

from __future__ import annotations

from starlette.requests import Request

from passgate.errors import InvalidRequest

__all__ = ["BodyTooLarge", "read_body"]


class BodyTooLarge(InvalidRequest):
    status_code = 413


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise InvalidRequest("Malformed Content-Length header")
        if int(declared) > limit:
            raise BodyTooLarge(f"The request body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"The request body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
