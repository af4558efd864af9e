"""LiveIndex: an index file that imports replace while it is in use (real files, real mmap)."""

from __future__ import annotations

import gc
import logging
import os
import weakref
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from passgate.breached import BreachedIndexError, import_corpus
from passgate.breached.checker import BreachedChecker
from passgate.breached.index import BreachedIndex
from passgate.breached.live import LiveIndex
from passgate.breached.range import range_routes
from tests.breached.helpers import hash_lines, sha1_digest, sha1_hex, write_lines


def build(path: Path, passwords: dict[str, int], *, with_range: bool = False) -> Path:
    source = write_lines(path.with_name(path.name + ".txt"), hash_lines(passwords))
    import_corpus([source], path, with_range=with_range)
    return path


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "breached.idx"


def current(live: LiveIndex) -> BreachedIndex:
    index = live.current()
    assert index is not None
    return index


def test_a_replaced_file_is_swapped_in_by_refresh(path: Path) -> None:
    build(path, {"first": 3})
    live = LiveIndex(path)
    first = current(live)
    assert live.refresh() is False  # unchanged: nothing to do
    assert live.current() is first

    build(path, {"second": 5})
    assert live.current() is first  # nothing happens until a refresh looks
    assert live.refresh() is True
    now = current(live)
    assert now.count(sha1_digest("second")) == 5
    assert now.count(sha1_digest("first")) is None
    assert live.refresh() is False
    live.close()


def test_the_old_index_serves_lookups_in_progress_and_is_unmapped_after(path: Path) -> None:
    build(path, {"first": 3})
    live = LiveIndex(path)
    in_use = current(live)  # a lookup that started before the swap holds this
    unmapped = weakref.ref(in_use._mapped)

    build(path, {"second": 5})
    assert live.refresh() is True
    assert in_use.count(sha1_digest("first")) == 3  # still mapped, still answering
    assert unmapped() is not None

    del in_use  # the lookup returns
    gc.collect()
    assert unmapped() is None
    assert current(live).count(sha1_digest("second")) == 5
    live.close()


def test_an_index_imported_after_start_is_picked_up(path: Path) -> None:
    live = LiveIndex(path)
    assert live.current() is None
    assert live.refresh() is False
    build(path, {"late": 2})
    assert live.refresh() is True
    assert current(live).count(sha1_digest("late")) == 2
    live.close()


def test_a_deleted_file_keeps_the_loaded_index_and_warns_once(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    build(path, {"kept": 4})
    live = LiveIndex(path)
    path.unlink()
    with caplog.at_level(logging.WARNING, logger="passgate.breached"):
        for _ in range(3):
            assert live.refresh() is False
    assert current(live).count(sha1_digest("kept")) == 4
    [warning] = caplog.records
    assert warning.levelno == logging.WARNING
    assert "deleted" in warning.getMessage()
    assert "still using" in warning.getMessage()

    caplog.clear()
    build(path, {"back": 1})
    assert live.refresh() is True
    assert current(live).count(sha1_digest("back")) == 1
    path.unlink()
    with caplog.at_level(logging.WARNING, logger="passgate.breached"):
        live.refresh()
        live.refresh()
    assert len(caplog.records) == 1  # warned again: it is a new disappearance
    live.close()


def test_a_missing_file_without_an_index_loaded_is_quiet(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    live = LiveIndex(path)
    with caplog.at_level(logging.DEBUG, logger="passgate.breached"):
        assert live.refresh() is False
    assert caplog.records == []


def test_a_damaged_replacement_keeps_the_old_index_and_is_logged_once(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    build(path, {"good": 6})
    live = LiveIndex(path)
    good = current(live)
    damaged = path.with_name("damaged")
    damaged.write_bytes(path.read_bytes()[:-5])  # truncated
    os.replace(damaged, path)
    with caplog.at_level(logging.WARNING, logger="passgate.breached"):
        for _ in range(3):
            assert live.refresh() is False
    assert live.current() is good
    [error] = caplog.records
    assert error.levelno == logging.ERROR
    assert "truncated" in error.getMessage()

    build(path, {"fixed": 7})  # the next import is tried again
    assert live.refresh() is True
    assert current(live).count(sha1_digest("fixed")) == 7
    live.close()


def test_a_required_index_must_exist_and_a_damaged_one_refuses_to_start(path: Path) -> None:
    with pytest.raises(BreachedIndexError, match="passgate breached import"):
        LiveIndex(path, required=True)
    path.write_bytes(b"x" * 100)
    with pytest.raises(BreachedIndexError, match="not a passgate index"):
        LiveIndex(path)


def test_the_checker_follows_its_live_index(path: Path) -> None:
    build(path, {"first": 3})
    checker = BreachedChecker(LiveIndex(path))
    assert checker.is_breached("first")
    build(path, {"second": 5})
    assert checker.is_breached("first")  # until the refresh
    assert checker.refresh() is True
    assert checker.check("second").count == 5
    assert not checker.is_breached("first")
    assert BreachedChecker(None).refresh() is False
    checker.close()


@pytest.mark.anyio
async def test_the_range_endpoint_answers_from_the_index_of_the_moment(path: Path) -> None:
    build(path, {"first": 3}, with_range=True)
    live = LiveIndex(path, required=True)
    app = Starlette(routes=range_routes(live.current))
    transport = httpx.ASGITransport(app=app)
    first, second = sha1_hex("first"), sha1_hex("second")
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        assert f"{first[5:]}:3" in (await http.get(f"/range/{first[:5]}")).text
        build(path, {"second": 8}, with_range=True)
        live.refresh()
        assert f"{second[5:]}:8" in (await http.get(f"/range/{second[:5]}")).text
        assert first[5:] not in (await http.get(f"/range/{first[:5]}")).text
        build(path, {"third": 1})  # no range data this time: the old companion is stale
        live.refresh()
        assert (await http.get(f"/range/{second[:5]}")).status_code == 404
    live.close()
