"""One import at a time per index; what a killed import left goes, and nothing else."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

import pytest

from passgate.breached.errors import BreachedImportError
from passgate.breached.import_lock import import_lock, lock_path
from passgate.breached.importer import import_corpus
from passgate.breached.index import BreachedIndex
from tests.breached.helpers import hash_lines, sha1_digest, write_lines

OURS = [
    ".breached.idx.build.abcd_123.tmp",
    ".breached.idx.codes.x1y2z3w4.tmp",
    ".breached.idx.range.build.abcd1234.tmp",
    ".breached.idx.range.counts.abcd1234.tmp",
]
NOT_OURS = [
    ".breached.idx2.build.abcd1234.tmp",  # another index
    ".other.idx.build.abcd1234.tmp",
    ".breached.idx.build.build.abcd1234.tmp",  # index "breached.idx.build"
    ".breached.idx.build.abcd1234.tmp.keep",
    "breached.idx.build.abcd1234.tmp",  # not hidden: not a writer's name
    ".breached.idx.build.tmp",
    ".breached.idx.build.ABCD1234.tmp",
    ".breached.idx.notes",
    ".breached.idx.lock.build.abcd1234.tmp",  # index "breached.idx.lock"
    ".breached.idx.runs.0123456789abcdef",  # a runs directory no record names
]


def _source(tmp_path: Path) -> Path:
    return write_lines(tmp_path / "source.txt", hash_lines({"new-password": 3}))


def _imported(index: Path) -> None:
    with BreachedIndex.open(index) as opened:
        assert opened.count(sha1_digest("new-password")) == 3


def test_only_this_index_writers_temporaries_are_removed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for name in OURS + NOT_OURS:
        (data / name).write_bytes(b"x")
    (data / ".breached.idx.runs.0123456789abcdef").unlink()
    (data / ".breached.idx.runs.0123456789abcdef").mkdir()
    (data / ".breached.idx.build.dir12345.tmp").mkdir()  # a directory: never ours
    precious = tmp_path / "precious"
    precious.write_text("keep")
    (data / ".breached.idx.build.link1234.tmp").symlink_to(precious)

    import_corpus([_source(tmp_path)], data / "breached.idx")

    assert sorted(os.listdir(data)) == sorted(
        [*NOT_OURS, ".breached.idx.build.dir12345.tmp", "breached.idx"]
    )
    assert precious.read_text() == "keep"  # the link went, not what it pointed to
    _imported(data / "breached.idx")


def test_a_recorded_runs_directory_goes_only_if_it_is_this_index_runs(tmp_path: Path) -> None:
    data, scratch = tmp_path / "data", tmp_path / "scratch"
    data.mkdir()
    scratch.mkdir()
    index = data / "breached.idx"
    runs = scratch / ".breached.idx.runs.00ff00ff00ff00ff"
    runs.mkdir()
    (runs / "0.keys").write_bytes(b"x" * 64)
    lock_path(index).write_text(json.dumps({"pid": 1, "runs": str(runs)}))
    import_corpus([_source(tmp_path)], index)
    assert not runs.exists()
    assert not lock_path(index).exists()

    others = [
        scratch / "important",
        scratch / ".other.idx.runs.00ff00ff00ff00ff",
        scratch / ".breached.idx.runs.not-hex",
    ]
    target = scratch / "target"
    link = scratch / ".breached.idx.runs.0123456789abcdef"
    link.symlink_to(target, target_is_directory=True)
    for directory in [*others, target]:
        directory.mkdir()
        (directory / "file").write_text("keep")
    for recorded in [*others, link, scratch, Path("/")]:
        lock_path(index).write_text(json.dumps({"pid": 1, "runs": str(recorded)}))
        import_corpus([_source(tmp_path)], index)
    assert all((directory / "file").read_text() == "keep" for directory in [*others, target])
    assert link.is_symlink()


@pytest.mark.parametrize("record", [b"", b"\xff\xfe garbage", b"[1, 2]", b'{"runs": 7}'])
def test_a_damaged_lock_file_is_no_obstacle(tmp_path: Path, record: bytes) -> None:
    index = tmp_path / "breached.idx"
    lock_path(index).write_bytes(record)
    import_corpus([_source(tmp_path)], index)
    assert not lock_path(index).exists()
    _imported(index)


def test_an_import_is_refused_while_another_holds_the_index(tmp_path: Path) -> None:
    index = tmp_path / "breached.idx"
    with import_lock(index):
        with pytest.raises(BreachedImportError, match=rf"another import .* \(pid {os.getpid()}\)"):
            import_corpus([_source(tmp_path)], index)
        assert lock_path(index).exists()
        import_corpus([_source(tmp_path)], tmp_path / "other.idx")  # another index: fine
    import_corpus([_source(tmp_path)], index)
    _imported(index)
    assert sorted(os.listdir(tmp_path)) == ["breached.idx", "other.idx", "source.txt"]


def test_a_failed_import_lets_go_of_the_lock_and_its_file(tmp_path: Path) -> None:
    index = tmp_path / "breached.idx"
    bad = write_lines(tmp_path / "bad.txt", ["garbage:1"])
    with pytest.raises(BreachedImportError, match=r"bad\.txt:1"):
        import_corpus([bad], index, fmt="sha1")
    assert sorted(os.listdir(tmp_path)) == ["bad.txt"]
    import_corpus([_source(tmp_path)], index)
    _imported(index)


def test_a_lock_file_removed_by_an_import_ending_meanwhile_is_not_the_one_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = tmp_path / "breached.idx"
    real_flock = fcntl.flock
    calls = []

    def flock_after_the_holder_ended(fd: int, operation: int) -> None:
        calls.append(fd)
        if len(calls) == 1:  # between our open and our flock, the last holder removed it
            os.unlink(lock_path(index))
        real_flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", flock_after_the_holder_ended)
    with import_lock(index):
        assert len(calls) == 2  # the first, unlinked file was let go; the new one is held
        monkeypatch.setattr(fcntl, "flock", real_flock)
        with pytest.raises(BreachedImportError, match="another import"):
            import_corpus([_source(tmp_path)], index)
