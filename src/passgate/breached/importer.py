"""Import a breached-password corpus into a new index, in bounded memory.

The corpus (up to ~2 billion hashes, 24-90 GB of text) never has to fit in memory:

1. sources are parsed block by block (:mod:`passgate.breached.formats`, vectorised);
2. keys and counts accumulate into a *run* of at most ``run_entries`` entries, which is
   sorted (skipped when already sorted, as with the ordered download), de-duplicated
   (counts added) and written to a temporary run file;
3. the runs are k-way merged in chunks: each round takes, from every run's buffer, the
   entries up to the smallest "last buffered key", sorts that slice (timsort: it is a
   concatenation of sorted pieces) and adds the counts of equal keys;
4. the merged stream goes to :class:`~passgate.breached.writer.IndexWriter` (and, with
   ``with_range``, to the range companion), which writes a temporary file next to the
   destination, fsyncs it and swaps it in with ``os.replace``.

One import at a time writes an index, and it first removes what a killed import of that
index left (:mod:`passgate.breached.import_lock`).

Peak memory is about 40 bytes x ``run_entries`` plus the parse buffers and a 256 MiB merge
budget: well under 1 GiB with the defaults, whatever the corpus size. Duplicate hashes
(within or across sources) are merged by adding their counts; ``min_count`` applies to the
summed count. Any failure (bad line, truncated gzip, empty input, disk full, Ctrl-C)
deletes the temporary files and leaves the previous index, if any, untouched.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from passgate.breached.errors import BreachedImportError
from passgate.breached.formats import BLOCK_SIZE, Batch, Format, read_source, source_bytes
from passgate.breached.import_lock import import_lock
from passgate.breached.index import HEADER_SIZE, range_path
from passgate.breached.writer import IndexWriter, RangeWriter, sum_sorted

__all__ = ["ImportStats", "Progress", "import_corpus"]

#: Entries per sorted run (8-byte keys); the range build uses half (20-byte keys).
RUN_ENTRIES = 8 * 1024 * 1024
MERGE_BUDGET = 256 * 1024 * 1024
#: Smallest read from one run during the merge (entries).
MIN_MERGE_BLOCK = 1 << 14

#: Told ``(phase, done, total)`` as an import goes: "read" (bytes), then "write" (hashes).
Progress = Callable[[str, int, int], None]

_Keys = npt.NDArray[Any]
_Counts = npt.NDArray[np.uint64]


@dataclass(frozen=True)
class ImportStats:
    """What an import did."""

    index_path: str
    sources: list[str]
    hashes_read: int
    unique_hashes: int
    entries: int
    dropped_below_min_count: int
    min_count: int
    index_bytes: int
    range_entries: int | None
    seconds: float
    runs: int = field(default=0)

    @property
    def hashes_per_second(self) -> float:
        return self.hashes_read / self.seconds if self.seconds > 0 else float("inf")

    def as_dict(self) -> dict[str, Any]:
        result = asdict(self)
        result["hashes_per_second"] = round(self.hashes_per_second)
        result["bytes_per_hash"] = round(self.index_bytes / self.entries, 3)
        return result


def import_corpus(
    sources: Iterable[Path | str],
    dest_path: Path | str,
    *,
    min_count: int = 1,
    with_range: bool = False,
    tmp_dir: Path | str | None = None,
    fmt: Format = "auto",
    run_entries: int | None = None,
    block_size: int = BLOCK_SIZE,
    progress: Progress | None = None,
) -> ImportStats:
    """Build a new index at ``dest_path`` from ``sources``, replacing the old one atomically.

    Raises :class:`BreachedImportError` (naming file and line for bad input, or when
    another import into ``dest_path`` runs); the previous index is then left as it was.
    ``tmp_dir`` holds the sorted runs (about 16 bytes per hash; 28 with ``with_range``); it
    defaults to the destination's directory. ``progress`` is called with
    ``(phase, done, total)``: phase ``"read"`` counts bytes of the sources, then ``"write"``
    the sorted entries merged into the index.
    """
    started = time.perf_counter()
    if min_count < 1:
        raise BreachedImportError(f"min_count must be at least 1, got {min_count}")
    paths = [Path(source) for source in sources]
    if not paths:
        raise BreachedImportError("nothing to import: no source given")
    dest = Path(dest_path)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BreachedImportError(f"{dest.parent}: cannot create directory: {exc}") from exc
    if run_entries is None:
        run_entries = RUN_ENTRIES // 2 if with_range else RUN_ENTRIES
    scratch = Path(tmp_dir) if tmp_dir is not None else dest.parent
    with import_lock(dest) as lock, lock.runs_directory(scratch) as runs_dir:
        runs = _Runs(runs_dir, full=with_range, run_entries=run_entries)
        on_read = _reporter(progress, "read", sum(source_bytes(path) for path in paths))
        for path in paths:
            for batch in read_source(path, fmt, block_size=block_size, on_read=on_read):
                runs.add(batch)
        if runs.read == 0:
            names = ", ".join(str(path) for path in paths)
            raise BreachedImportError(f"empty input: no hashes in {names}")
        build_id = os.urandom(16)
        index = IndexWriter(dest, min_count=min_count, build_id=build_id)
        companion = (
            RangeWriter(range_path(dest), min_count=min_count, build_id=build_id)
            if with_range
            else None
        )
        try:
            range_dropped = 0
            on_merged = _reporter(progress, "write", runs.read)
            for keys, counts in runs.merged(on_merged):
                if companion is None:
                    index.add(keys, counts)
                    continue
                if min_count > 1:
                    keep = counts >= min_count
                    range_dropped += len(keys) - int(keep.sum())
                    keys, counts = keys[keep], counts[keep]
                companion.add(keys, counts)
                index.add(_prefix_keys(keys), counts)
            if on_merged is not None:
                on_merged(runs.read)  # whatever rounding left: the merge is done
            index.finish()
            if companion is not None:
                companion.finish()
            if index.entries == 0:
                raise BreachedImportError(
                    f"no hash is seen at least {min_count} times: the index would be empty"
                )
            if companion is not None:
                companion.install()
            index.install()
            if companion is None:
                range_path(dest).unlink(missing_ok=True)
        except BaseException:
            index.abort()
            if companion is not None:
                companion.abort()
            raise
    dropped = range_dropped if companion is not None else index.dropped
    return ImportStats(
        index_path=str(dest),
        sources=[str(path) for path in paths],
        hashes_read=runs.read,
        unique_hashes=(companion.entries if companion else index.entries) + dropped,
        entries=index.entries,
        dropped_below_min_count=dropped,
        min_count=min_count,
        index_bytes=HEADER_SIZE + 9 * index.entries,
        range_entries=companion.entries if companion is not None else None,
        seconds=time.perf_counter() - started,
        runs=len(runs.runs),
    )


def _reporter(progress: Progress | None, phase: str, total: int) -> Callable[[int], None] | None:
    """A counter that reports its running sum to ``progress`` (None without one)."""
    if progress is None:
        return None
    done = 0
    progress(phase, 0, total)

    def add(amount: int) -> None:
        nonlocal done
        done += amount
        progress(phase, min(done, total), total)

    return add


def _prefix_keys(digests: npt.NDArray[Any]) -> npt.NDArray[np.uint64]:
    """The first 8 bytes of ``(n, 20)`` uint8 digests (or ``S20`` items) as integers."""
    raw = digests.view(np.uint8).reshape(-1, 20)
    return np.ascontiguousarray(raw[:, :8]).view(">u8").ravel().astype(np.uint64)


def _sort(
    keys: _Keys, counts: _Counts, *, kind: Literal["quicksort", "stable"] = "quicksort"
) -> tuple[_Keys, _Counts]:
    if len(keys) > 1 and not bool((keys[1:] >= keys[:-1]).all()):
        order = np.argsort(keys, kind=kind)
        keys, counts = keys[order], counts[order]
    return sum_sorted(keys, counts)


@dataclass
class _Run:
    keys: Path
    counts: Path
    entries: int


class _Runs:
    """Sorted runs on disk, and their merge."""

    def __init__(self, directory: Path, *, full: bool, run_entries: int) -> None:
        self.directory = directory
        self.full = full
        self.dtype = np.dtype("S20") if full else np.dtype(np.uint64)
        self.run_entries = run_entries
        self.read = 0
        self.runs: list[_Run] = []
        self._keys: list[_Keys] = []
        self._counts: list[_Counts] = []
        self._pending = 0
        self._run_total = 0

    def add(self, batch: Batch) -> None:
        if not len(batch):
            return
        keys = batch.digests.view("S20").ravel() if self.full else _prefix_keys(batch.digests)
        self._keys.append(keys)
        self._counts.append(batch.counts)
        self._pending += len(keys)
        self.read += len(keys)
        if self._pending >= self.run_entries:
            self._spill()

    def _take(self) -> tuple[_Keys, _Counts]:
        keys = np.concatenate(self._keys)
        self._keys.clear()
        counts = np.concatenate(self._counts)
        self._counts.clear()
        self._pending = 0
        return _sort(keys, counts)

    def _spill(self) -> None:
        keys, counts = self._take()
        number = len(self.runs)
        run = _Run(
            self.directory / f"{number}.keys", self.directory / f"{number}.counts", len(keys)
        )
        keys.tofile(run.keys)
        counts.tofile(run.counts)
        self.runs.append(run)
        self._run_total += len(keys)

    def merged(
        self, on_merged: Callable[[int], None] | None = None
    ) -> Iterator[tuple[_Keys, _Counts]]:
        """Yield sorted batches of unique keys with their summed counts; ``on_merged`` is
        told how many hashes read each batch stands for."""
        report = on_merged or (lambda amount: None)
        if not self.runs:
            if self._pending:
                pending = self._pending
                yield self._take()
                report(pending)
            return
        if self._pending:
            self._spill()
        entry_bytes = self.dtype.itemsize + 8
        block = max(MIN_MERGE_BLOCK, MERGE_BUDGET // (len(self.runs) * entry_bytes))
        readers = [_RunReader(run, self.dtype, block) for run in self.runs]
        merged = 0
        try:
            while readers:
                bound = min(reader.keys[-1] for reader in readers)
                keys: list[_Keys] = []
                counts: list[_Counts] = []
                for reader in readers:
                    taken = int(np.searchsorted(reader.keys, bound, side="right"))
                    merged += taken
                    if taken:
                        keys.append(reader.keys[:taken])
                        counts.append(reader.counts[:taken])
                        reader.advance(taken)
                readers = [reader for reader in readers if not reader.done]
                if len(keys) == 1:
                    yield keys[0], counts[0]
                else:
                    yield _sort(np.concatenate(keys), np.concatenate(counts), kind="stable")
                report(merged * self.read // max(1, self._run_total))
                merged = 0
        finally:
            for reader in readers:
                reader.close()


class _RunReader:
    def __init__(self, run: _Run, dtype: np.dtype[Any], block: int) -> None:
        self.dtype = dtype
        self.block = block
        self.key_file = open(run.keys, "rb")  # noqa: SIM115 - closed by close()
        self.count_file = open(run.counts, "rb")  # noqa: SIM115
        self.done = False
        self.keys: _Keys
        self.counts: _Counts
        self._refill()

    def _refill(self) -> None:
        self.keys = np.fromfile(self.key_file, self.dtype, self.block)
        self.counts = np.fromfile(self.count_file, np.uint64, self.block)
        if not len(self.keys):
            self.close()

    def advance(self, taken: int) -> None:
        self.keys = self.keys[taken:]
        self.counts = self.counts[taken:]
        if not len(self.keys):
            self._refill()

    def close(self) -> None:
        self.done = True
        self.key_file.close()
        self.count_file.close()
