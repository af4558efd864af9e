"""``passgate breached import`` killed with ``kill -9``, and imports that overlap.

Real ``passgate breached import`` processes over generated corpora: the next import removes
what a killed one left (and only that), and an import never starts while another one
writes the same index.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from passgate.breached.index import BreachedIndex, range_path
from tests.breached.helpers import hash_lines, sha1_digest, write_lines

pytestmark = pytest.mark.slow

#: Enough for the new index to be written for about a second (with the range companion).
BIG_CORPUS = 1_000_000
_HEX = np.frombuffer(b"".join(b"%02X" % byte for byte in range(256)), np.uint8).reshape(256, 2)


def generate_corpus(path: Path, hashes: int, seed: int = 14) -> list[bytes]:
    """``hashes`` random ``SHA1:1`` lines; the first few digests, to look up afterwards."""
    digests = np.random.default_rng(seed).integers(0, 256, (hashes, 20), dtype=np.uint8)
    lines = np.empty((hashes, 43), np.uint8)
    lines[:, :40] = _HEX[digests].reshape(hashes, 40)
    lines[:, 40:] = np.frombuffer(b":1\n", np.uint8)
    lines.tofile(path)
    return [bytes(digest) for digest in digests[:3]]


def leftovers(directory: Path, name: str = "breached.idx") -> list[str]:
    """What an import into ``name`` may leave in ``directory``: hidden ``.NAME.*`` entries."""
    return sorted(entry.name for entry in directory.iterdir() if entry.name.startswith(f".{name}."))


def start_import(*args: str | Path) -> subprocess.Popen[str]:
    """``passgate breached import ARGS`` in a process group of its own."""
    return subprocess.Popen(
        [sys.executable, "-m", "passgate", "breached", "import", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def run_import(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "passgate", "breached", "import", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def kill_group(process: subprocess.Popen[str]) -> None:
    """``kill -9`` of the import and anything it started (once it is, nothing)."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate(timeout=15)


def wait_for(condition: Callable[[], object], process: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 120
    while not condition():
        assert process.poll() is None, f"the import ended before {what}: {process.stderr}"
        assert time.monotonic() < deadline, f"no {what}"
        time.sleep(0.005)


def old_index(data: Path) -> Path:
    index = data / "breached.idx"
    source = write_lines(data.parent / "old.txt", hash_lines({"old-password": 4}))
    assert run_import(source, "--index", index, "--with-range").returncode == 0
    return index


def test_the_next_import_removes_what_an_import_killed_mid_write_left(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    index = old_index(data)
    big = tmp_path / "big.txt"
    generate_corpus(big, BIG_CORPUS)
    killed = start_import(big, "--index", index, "--with-range")
    try:
        # The new index and its companion are being written next to the old ones.
        wait_for(lambda: any(n.endswith(".tmp") for n in leftovers(data)), killed, "temporary")
    finally:
        kill_group(killed)
    left = leftovers(data) + leftovers(data, "breached.idx.range")
    assert any(".build." in name for name in left), left
    with BreachedIndex.open(index) as served:  # the old index is still the one in place
        assert served.count(sha1_digest("old-password")) == 4

    source = write_lines(tmp_path / "new.txt", hash_lines({"new-password": 7}))
    again = run_import(source, "--index", index)
    assert again.returncode == 0, again.stderr
    assert leftovers(data) == []
    assert leftovers(data, "breached.idx.range") == []
    assert sorted(entry.name for entry in data.iterdir()) == ["breached.idx"]
    with BreachedIndex.open(index) as fresh:
        assert fresh.count(sha1_digest("new-password")) == 7
        assert fresh.count(sha1_digest("old-password")) is None
    assert not range_path(index).exists()


def test_the_next_import_removes_the_runs_a_killed_import_left_in_its_tmp_dir(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    index = old_index(data)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    # A named pipe as the corpus: the import reads (and waits) until the test kills it.
    fifo = tmp_path / "corpus.fifo"
    os.mkfifo(fifo)
    killed = start_import(fifo, "--index", index, "--tmp-dir", scratch, "--format", "sha1")
    try:
        with fifo.open("w") as feed, contextlib.suppress(BrokenPipeError):
            feed.write("\n".join(hash_lines({f"pw-{i}": 1 for i in range(1000)})) + "\n")
            feed.flush()
            wait_for(lambda: leftovers(scratch), killed, "runs directory")
            kill_group(killed)
    finally:
        kill_group(killed)
    assert [name.rpartition(".")[0] for name in leftovers(scratch)] == [".breached.idx.runs"]

    # Without --tmp-dir this time: the next import still knows where the killed one worked.
    source = write_lines(tmp_path / "new.txt", hash_lines({"new-password": 7}))
    again = run_import(source, "--index", index)
    assert again.returncode == 0, again.stderr
    assert leftovers(scratch) == []
    assert leftovers(data) == []
    with BreachedIndex.open(index) as fresh:
        assert fresh.count(sha1_digest("new-password")) == 7


def test_an_import_into_an_index_another_import_is_writing_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    index = old_index(data)
    lines = hash_lines({f"pw-{i}": i + 1 for i in range(2000)})
    fifo = tmp_path / "corpus.fifo"
    os.mkfifo(fifo)
    first = start_import(fifo, "--index", index, "--format", "sha1", "--json")
    try:
        with fifo.open("w") as feed:
            feed.write("\n".join(lines[:1000]) + "\n")
            feed.flush()
            wait_for(lambda: any(".runs." in n for n in leftovers(data)), first, "runs")
            working = leftovers(data)

            source = write_lines(tmp_path / "other.txt", hash_lines({"other": 2}))
            second = run_import(source, "--index", index)
            assert second.returncode == 1
            assert "another import" in second.stderr
            assert f"pid {first.pid}" in second.stderr
            assert "Traceback" not in second.stderr
            assert leftovers(data) == working  # the first import's files are untouched
            # Another index in the same directory is another matter.
            beside = run_import(source, "--index", data / "other.idx")
            assert beside.returncode == 0, beside.stderr
            assert leftovers(data) == working

            feed.write("\n".join(lines[1000:]) + "\n")
        out, err = first.communicate(timeout=120)
    finally:
        kill_group(first)
    assert first.returncode == 0, err
    assert '"entries": 2000' in out
    assert leftovers(data) == []
    with BreachedIndex.open(index) as fresh:
        assert fresh.count(sha1_digest("pw-3")) == 4
        assert fresh.count(sha1_digest("pw-1999")) is not None  # fed after the refusal
        assert fresh.count(sha1_digest("other")) is None
        assert fresh.count(sha1_digest("old-password")) is None
