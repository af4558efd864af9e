"""The web layer's small parts: capped body reading and JSON responses (errors are in
test_errors.py)."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.requests import Request

from passgate.errors import BodyTooLarge, InvalidRequest
from passgate.web.body import read_body
from passgate.web.errors import error_status
from passgate.web.responses import JSONResponse

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _request(chunks: list[bytes], content_length: bytes | None = None) -> Request:
    headers = [] if content_length is None else [(b"content-length", content_length)]
    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    pending = list(chunks)

    async def receive() -> dict[str, Any]:
        body = pending.pop(0) if pending else b""
        return {"type": "http.request", "body": body, "more_body": bool(pending)}

    return Request(scope, receive)


async def test_read_body_joins_chunks_up_to_the_limit() -> None:
    assert await read_body(_request([b"ab", b"cd"]), 4) == b"abcd"
    assert await read_body(_request([]), 4) == b""


async def test_read_body_refuses_a_stream_past_the_limit() -> None:
    with pytest.raises(BodyTooLarge) as caught:
        await read_body(_request([b"abc", b"de"]), 4)
    assert error_status(caught.value) == 413
    assert caught.value.error == "invalid_request"


async def test_read_body_refuses_a_declared_length_past_the_limit_before_reading() -> None:
    with pytest.raises(BodyTooLarge):
        await read_body(_request([b"x"], content_length=b"5"), 4)


@pytest.mark.parametrize("declared", [b"-1", b"1.0", b"\xb2", b"\xd9\xa3", b"", b"0x10"])
async def test_read_body_refuses_a_malformed_content_length(declared: bytes) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await read_body(_request([b"x"], content_length=declared), 4)
    assert error_status(caught.value) == 400


def test_json_response_renders_with_orjson() -> None:
    assert JSONResponse({"a": [1, "é"]}).body == '{"a":[1,"é"]}'.encode()
