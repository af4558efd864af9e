"""GET /range/{prefix}, in process through httpx's ASGI transport."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from passgate.breached.importer import import_corpus
from passgate.breached.index import BreachedIndex
from passgate.breached.range import range_routes
from tests.breached.helpers import hash_lines, sha1_hex, write_lines

CORPUS = {"password": 3_861_493, "hunter2": 17, "123456": 37_359_195}


async def _client(tmp_path: Path, *, with_range: bool) -> AsyncIterator[httpx.AsyncClient]:
    source = write_lines(tmp_path / "h.txt", hash_lines(CORPUS))
    import_corpus([source], tmp_path / "i.idx", with_range=with_range)
    with BreachedIndex.open(tmp_path / "i.idx") as index:
        app = Starlette(routes=range_routes(index))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for c in _client(tmp_path, with_range=True):
        yield c


@pytest.mark.anyio
@pytest.mark.parametrize("case", [str.upper, str.lower])
async def test_range_answers_like_pwned_passwords(client: httpx.AsyncClient, case: object) -> None:
    digest = sha1_hex("password")
    response = await client.get(f"/range/{case(digest[:5])}")  # type: ignore[operator]
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.count("\n") == response.text.count("\r\n")  # CRLF only
    lines = response.text.split("\r\n")
    assert f"{digest[5:]}:3861493" in lines
    for line in lines:
        suffix, count = line.split(":")
        assert len(suffix) == 35
        assert suffix == suffix.upper()
        assert int(count) > 0


@pytest.mark.anyio
async def test_padding_adds_count_zero_lines_up_to_800_to_1000(client: httpx.AsyncClient) -> None:
    digest = sha1_hex("hunter2")
    totals = set()
    for _ in range(5):
        response = await client.get(f"/range/{digest[:5]}", headers={"Add-Padding": "true"})
        assert response.text.count("\n") == response.text.count("\r\n")
        lines = response.text.split("\r\n")
        totals.add(len(lines))
        assert 800 <= len(lines) <= 1000
        assert f"{digest[5:]}:17" in lines
        real = [line for line in lines if not line.endswith(":0")]
        assert real == [f"{digest[5:]}:17"]
        assert lines == sorted(lines)
        assert len({line.split(":")[0] for line in lines}) == len(lines)
    assert len(totals) > 1  # the total varies, so it tells nothing


@pytest.mark.anyio
async def test_unpadded_unknown_prefix_is_an_empty_answer(client: httpx.AsyncClient) -> None:
    known = {sha1_hex(p)[:5] for p in CORPUS}
    prefix = next(p for p in ("00000", "00001", "00002") if p not in known)
    response = await client.get(f"/range/{prefix}")
    assert response.status_code == 200
    assert response.text == ""


@pytest.mark.anyio
@pytest.mark.parametrize("prefix", ["ABCD", "ABCDEF", "GHIJK", "12%2045", "5BAA6%0A"])
async def test_a_bad_prefix_is_a_400(client: httpx.AsyncClient, prefix: str) -> None:
    response = await client.get(f"/range/{prefix}")
    assert response.status_code == 400
    assert response.text == "The hash prefix was not in a valid format"


@pytest.mark.anyio
async def test_without_range_data_every_prefix_is_a_404(tmp_path: Path) -> None:
    async for client in _client(tmp_path, with_range=False):
        response = await client.get(f"/range/{sha1_hex('password')[:5]}")
        assert response.status_code == 404
        assert "--with-range" in response.text
