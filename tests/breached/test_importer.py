"""Import: sorting and merging in bounded memory, min_count, and atomic replacement."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from passgate.breached import importer
from passgate.breached.errors import BreachedImportError
from passgate.breached.importer import import_corpus
from passgate.breached.index import COUNT_RELATIVE_ERROR, BreachedIndex, range_path
from passgate.breached.writer import IndexWriter
from tests.breached.helpers import REPO, hash_lines, sha1_digest, write_lines


def _digest(i: int) -> bytes:
    return hashlib.sha1(f"pw-{i}".encode()).digest()


def _corpus_lines(corpus: dict[bytes, int]) -> list[str]:
    return [f"{d.hex().upper()}:{c}" for d, c in corpus.items()]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.integers(0, 300), st.integers(1, 20)), min_size=1, max_size=400),
    st.integers(1, 50),
    st.integers(1, 4),
)
def test_any_order_and_duplicates_give_summed_counts(
    rows: list[tuple[int, int]], run_entries: int, min_count: int
) -> None:
    expected: dict[bytes, int] = {}
    for i, count in rows:
        expected[_digest(i)] = expected.get(_digest(i), 0) + count
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        half = len(rows) // 2
        a = write_lines(directory / "a.txt", [f"{_digest(i).hex()}:{c}" for i, c in rows[:half]])
        b = write_lines(directory / "b.txt", [f"{_digest(i).hex()}:{c}" for i, c in rows[half:]])
        sources = [a, b] if half else [b]
        kept = {d: c for d, c in expected.items() if c >= min_count}
        if not kept:
            with pytest.raises(BreachedImportError, match="index would be empty"):
                import_corpus(sources, directory / "i.idx", min_count=min_count)
            return
        stats = import_corpus(
            sources, directory / "i.idx", run_entries=run_entries, min_count=min_count
        )
        assert stats.hashes_read == len(rows)
        assert stats.entries == len(kept)
        assert stats.dropped_below_min_count == len(expected) - len(kept)
        with BreachedIndex.open(directory / "i.idx") as index:
            assert len(index) == len(kept)
            for digest, count in expected.items():
                found = index.count(digest)
                if count < min_count:
                    assert found is None
                else:
                    assert found is not None
                    assert abs(found - count) <= COUNT_RELATIVE_ERROR * count


def test_merging_runs_gives_the_same_file_as_one_sort(tmp_path: Path) -> None:
    corpus = {_digest(i): i % 30 + 1 for i in range(20_000)}
    lines = _corpus_lines(corpus)
    random.Random(4).shuffle(lines)
    source = write_lines(tmp_path / "shuffled.txt", lines)
    one = import_corpus([source], tmp_path / "one.idx")
    many = import_corpus([source], tmp_path / "many.idx", run_entries=777, block_size=4096)
    assert one.runs == 0
    assert many.runs > 20
    assert (tmp_path / "one.idx").read_bytes()[64:] == (tmp_path / "many.idx").read_bytes()[64:]


def test_range_build_with_runs_and_min_count(tmp_path: Path) -> None:
    corpus = {_digest(i): i % 5 + 1 for i in range(3000)}
    source = write_lines(tmp_path / "h.txt", _corpus_lines(corpus))
    stats = import_corpus(
        [source, source], tmp_path / "i.idx", with_range=True, min_count=6, run_entries=100
    )
    kept = {d: 2 * c for d, c in corpus.items() if 2 * c >= 6}
    assert stats.range_entries == stats.entries == len(kept)
    with BreachedIndex.open(tmp_path / "i.idx") as index:
        for digest, count in list(corpus.items())[:300]:
            expected = 2 * count if 2 * count >= 6 else None
            assert index.count(digest) == expected
            suffixes = dict(index.range(digest.hex()[:5].upper()))
            assert suffixes.get(digest.hex()[5:].upper()) == expected


def _old_index(tmp_path: Path) -> tuple[Path, bytes]:
    source = write_lines(tmp_path / "old.txt", hash_lines({"old-password": 4}))
    path = tmp_path / "breached.idx"
    import_corpus([source], path)
    return path, path.read_bytes()


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".breached.idx"))


def test_a_failed_import_leaves_the_old_index_served(tmp_path: Path) -> None:
    path, before = _old_index(tmp_path)
    bad = write_lines(tmp_path / "new.txt", [*hash_lines({"new": 1}), "garbage:1"])
    with pytest.raises(BreachedImportError, match=r"new\.txt:2"):
        import_corpus([bad], path)
    assert path.read_bytes() == before
    assert _leftovers(tmp_path) == []
    with BreachedIndex.open(path) as index:
        assert index.count(sha1_digest("old-password")) == 4


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_failure_mid_merge_leaves_the_old_index_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: BaseException
) -> None:
    path, before = _old_index(tmp_path)
    source = write_lines(tmp_path / "new.txt", _corpus_lines({_digest(i): 1 for i in range(5000)}))
    calls = []
    real_add = IndexWriter.add

    def failing_add(self: IndexWriter, *args: object) -> None:
        calls.append(1)
        if len(calls) == 3:
            assert Path(self.main.name).stat().st_size > 64  # partly written
            raise failure
        real_add(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(IndexWriter, "add", failing_add)
    monkeypatch.setattr(importer, "MIN_MERGE_BLOCK", 50)
    monkeypatch.setattr(importer, "MERGE_BUDGET", 0)
    with pytest.raises(type(failure)):
        import_corpus([source], path, run_entries=500)
    assert len(calls) == 3
    assert path.read_bytes() == before
    assert _leftovers(tmp_path) == []


CHILD = """
import os, sys, time
from pathlib import Path
from passgate.breached import writer
from passgate.breached.importer import import_corpus

real = writer.IndexWriter._emit
def slow(self, *args):
    real(self, *args)
    self.main.flush()
    Path(sys.argv[3]).touch()
    time.sleep(60)
writer.IndexWriter._emit = slow
import_corpus([sys.argv[1]], sys.argv[2], run_entries=1000)
"""


def test_killing_the_import_mid_write_leaves_the_old_index_served(tmp_path: Path) -> None:
    path, before = _old_index(tmp_path)
    with BreachedIndex.open(path) as served:
        source = write_lines(
            tmp_path / "n.txt", _corpus_lines({_digest(i): 1 for i in range(5000)})
        )
        marker = tmp_path / "writing"
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(source), str(path), str(marker)], cwd=REPO
        )
        try:
            deadline = time.monotonic() + 60
            while not marker.exists():
                assert child.poll() is None, "the import ended before it was killed"
                assert time.monotonic() < deadline
                time.sleep(0.05)
            partial = [name for name in _leftovers(tmp_path) if ".build." in name]
            assert partial, "a new index was being written"
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
        assert path.read_bytes() == before
        assert served.count(sha1_digest("old-password")) == 4
    with BreachedIndex.open(path) as index:
        assert index.count(sha1_digest("old-password")) == 4
        assert index.count(_digest(1)) is None
    import_corpus([source], path)  # the next import works despite the leftovers
    with BreachedIndex.open(path) as index:
        assert index.count(_digest(1)) == 1


def test_an_open_index_keeps_its_data_after_a_new_import(tmp_path: Path) -> None:
    path, _ = _old_index(tmp_path)
    with BreachedIndex.open(path) as served:
        import_corpus([write_lines(tmp_path / "n.txt", hash_lines({"new": 2}))], path)
        assert served.count(sha1_digest("old-password")) == 4
        with BreachedIndex.open(path) as fresh:
            assert fresh.count(sha1_digest("old-password")) is None
            assert fresh.count(sha1_digest("new")) == 2


def test_an_import_without_range_removes_the_old_companion(tmp_path: Path) -> None:
    source = write_lines(tmp_path / "h.txt", hash_lines({"password": 3}))
    path = tmp_path / "breached.idx"
    import_corpus([source], path, with_range=True)
    companion = range_path(path).read_bytes()
    import_corpus([source], path)
    assert not range_path(path).exists()
    range_path(path).write_bytes(companion)  # a companion from another build
    with BreachedIndex.open(path) as index:
        assert not index.has_range
        assert index.stats()["range"].startswith("stale")


def test_min_count_below_one_is_refused(tmp_path: Path) -> None:
    source = write_lines(tmp_path / "h.txt", hash_lines({"password": 3}))
    with pytest.raises(BreachedImportError, match="min_count"):
        import_corpus([source], tmp_path / "i.idx", min_count=0)


def test_stats_report_rates_and_sizes(tmp_path: Path) -> None:
    source = write_lines(tmp_path / "h.txt", hash_lines({"a": 1, "b": 2, "c": 3}))
    stats = import_corpus([source, source], tmp_path / "i.idx")
    figures = stats.as_dict()
    assert figures["hashes_read"] == 6
    assert figures["unique_hashes"] == figures["entries"] == 3
    assert figures["index_bytes"] == 64 + 27
    assert figures["hashes_per_second"] > 0
