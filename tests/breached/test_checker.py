"""BreachedChecker: test passwords, local index with min_count, settings."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from passgate.breached.checker import BreachedChecker, BreachedResult
from passgate.breached.errors import BreachedIndexError
from passgate.breached.importer import import_corpus
from passgate.breached.index import BreachedIndex
from passgate.breached.upstream import RangeClient
from passgate.settings import Settings
from tests.breached.helpers import hash_lines, sha1_hex, write_lines

CORPUS = {"password": 3_861_493, "hunter2": 17, "rare-one": 1, "café": 4}


@pytest.fixture
def index(tmp_path: Path) -> BreachedIndex:
    source = write_lines(tmp_path / "h.txt", hash_lines(CORPUS))
    import_corpus([source], tmp_path / "breached.idx")
    return BreachedIndex.open(tmp_path / "breached.idx")


def test_auth0_test_passwords_are_always_breached() -> None:
    checker = BreachedChecker(None)
    assert checker.check("AUTH0-TEST-anything") == BreachedResult(True, None, "test")
    assert not checker.is_breached("auth0-test-lowercase-is-not-the-prefix")
    assert not checker.is_breached("password")  # no index, no upstream: nothing known


def test_local_index_decides_with_min_count(index: BreachedIndex) -> None:
    checker = BreachedChecker(index)
    assert checker.check("hunter2") == BreachedResult(True, 17, "local")
    assert checker.is_breached("rare-one")
    assert checker.is_breached("café")  # hashed as UTF-8, like Pwned Passwords
    assert not checker.is_breached("Hunter2")
    strict = BreachedChecker(index, min_count=5)
    assert strict.is_breached("hunter2")
    assert not strict.is_breached("rare-one")
    assert not strict.is_breached("café")
    with pytest.raises(ValueError, match="min_count"):
        BreachedChecker(index, min_count=0)


def test_upstream_is_asked_only_when_the_index_does_not_know(index: BreachedIndex) -> None:
    seen: list[str] = []
    digest = sha1_hex("only-upstream")

    def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, text=f"{digest[5:]}:8\r\n")

    client = RangeClient("https://up.test/range/", transport=httpx.MockTransport(upstream))
    checker = BreachedChecker(index, upstream=client)
    assert checker.check("password").source == "local"
    assert seen == []
    assert checker.check("only-upstream") == BreachedResult(True, 8, "upstream")
    assert seen == [f"/range/{digest[:5]}"]
    checker.close()


def test_from_settings_opens_the_index_and_upstream(
    index: BreachedIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PASSGATE_BREACHED_INDEX", str(index.path))
    monkeypatch.setenv("PASSGATE_BREACHED_RANGE_URL", "http://127.0.0.1:9/range/")
    monkeypatch.setenv("PASSGATE_BREACHED_UPSTREAM_UNAVAILABLE", "refuse")
    monkeypatch.setenv("PASSGATE_BREACHED_RANGE_TIMEOUT", "0.5")
    checker = BreachedChecker.from_settings(Settings())
    try:
        assert checker.is_breached("password")
        assert checker.upstream is not None
        assert checker.upstream.on_unavailable == "refuse"
    finally:
        checker.close()
        index.close()


def test_from_settings_without_an_index_file(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    checker = BreachedChecker.from_settings(settings)
    assert checker.index is None
    assert checker.upstream is None
    with pytest.raises(BreachedIndexError, match="passgate breached import"):
        BreachedChecker.from_settings(settings, require_index=True)
