"""The web layer's small parts: capped body reading and OAuth error rendering."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from starlette.requests import Request

from passgate.errors import InvalidClient, InvalidGrant, InvalidRequest, TooManyAttempts
from passgate.web.body import BodyTooLarge, read_body
from passgate.web.responses import NO_STORE, JSONResponse, error_response

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
    assert caught.value.status_code == 413
    assert caught.value.error == "invalid_request"


async def test_read_body_refuses_a_declared_length_past_the_limit_before_reading() -> None:
    with pytest.raises(BodyTooLarge):
        await read_body(_request([b"x"], content_length=b"5"), 4)


@pytest.mark.parametrize("declared", [b"-1", b"1.0", b"\xb2", b"\xd9\xa3", b"", b"0x10"])
async def test_read_body_refuses_a_malformed_content_length(declared: bytes) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await read_body(_request([b"x"], content_length=declared), 4)
    assert caught.value.status_code == 400


def test_error_response_is_an_oauth_body_and_no_store() -> None:
    response = error_response(InvalidGrant())
    assert response.status_code == 403
    assert orjson.loads(response.body) == {
        "error": "invalid_grant",
        "error_description": "Wrong email or password.",
    }
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    assert response.headers["content-type"] == "application/json"


def test_basic_invalid_client_carries_a_challenge() -> None:
    assert error_response(InvalidClient(basic=True)).headers["www-authenticate"] == (
        'Basic realm="passgate"'
    )
    assert "www-authenticate" not in error_response(InvalidClient()).headers


def test_error_response_without_no_store() -> None:
    response = error_response(TooManyAttempts(), no_store=False)
    assert response.status_code == 429
    assert "cache-control" not in response.headers
    assert NO_STORE == {"Cache-Control": "no-store", "Pragma": "no-cache"}


def test_json_response_renders_with_orjson() -> None:
    assert JSONResponse({"a": [1, "é"]}).body == '{"a":[1,"é"]}'.encode()
