"""Writing index files: stream sorted entries into a temporary file, then swap it in.

A writer creates its temporary files in the destination's directory (same file system,
so ``os.replace`` is an atomic rename), appends sorted batches to them, and on
``finish()`` writes the header and fsyncs. ``install()`` renames the finished file over
the destination and fsyncs the directory. Until then the previous index is untouched;
``abort()`` (or any exception in the importer) deletes the temporary files, and a crash
leaves only hidden ``.NAME.*.tmp`` files that are never opened and that the next import
removes (:mod:`passgate.breached.import_lock`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import IO, TypeVar

import numpy as np
import numpy.typing as npt

from passgate.breached.index import (
    HEADER_SIZE,
    INDEX_MAGIC,
    MAX_COUNT,
    OFFSETS_SIZE,
    PREFIXES,
    RANGE_MAGIC,
    VERSION,
    IndexHeader,
    encode_counts,
)

__all__ = ["IndexWriter", "RangeWriter", "sum_sorted"]


_K = TypeVar("_K", bound=np.generic)


def sum_sorted(
    keys: npt.NDArray[_K], counts: npt.NDArray[np.uint64]
) -> tuple[npt.NDArray[_K], npt.NDArray[np.uint64]]:
    """Merge equal neighbours of sorted ``keys``, adding their counts."""
    if len(keys) < 2:
        return keys, counts
    change = keys[1:] != keys[:-1]
    if change.all():
        return keys, counts
    starts = np.flatnonzero(np.concatenate(([True], change)))
    return keys[starts], np.add.reduceat(counts, starts)


def _temporary(dest: Path, tag: str) -> IO[bytes]:
    return tempfile.NamedTemporaryFile(
        dir=dest.parent, prefix=f".{dest.name}.{tag}.", suffix=".tmp", delete=False
    )


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Writer:
    magic = b""

    def __init__(self, dest: Path, *, min_count: int, build_id: bytes, data_offset: int) -> None:
        self.dest = dest
        self.min_count = min_count
        self.build_id = build_id
        self.entries = 0
        self.finished = False
        self._files: list[IO[bytes]] = []
        self.main = self._open("build")
        self.main.write(bytes(data_offset))

    def _open(self, tag: str) -> IO[bytes]:
        file = _temporary(self.dest, tag)
        self._files.append(file)
        return file

    def _header(self) -> bytes:
        return IndexHeader(
            self.magic, VERSION, 0, self.entries, self.min_count, self.build_id, int(time.time())
        ).pack()

    def _finish(self, prefix_data: bytes, tail: IO[bytes]) -> None:
        tail.flush()
        tail.seek(0)
        shutil.copyfileobj(tail, self.main, 16 * 1024 * 1024)
        self.main.seek(0)
        self.main.write(self._header() + prefix_data)
        self.main.flush()
        os.fsync(self.main.fileno())
        self.main.close()
        self.finished = True

    def install(self) -> None:
        """Atomically put the finished file in place of the destination."""
        assert self.finished
        os.replace(self.main.name, self.dest)
        _fsync_dir(self.dest.parent)
        self._files.remove(self.main)
        self.abort()

    def abort(self) -> None:
        """Delete the temporary files (whatever state they are in)."""
        for file in self._files:
            file.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(file.name)
        self._files.clear()


class IndexWriter(_Writer):
    """Builds an index file from sorted ``(key, count)`` batches; keys may repeat."""

    magic = INDEX_MAGIC

    def __init__(self, dest: Path, *, min_count: int, build_id: bytes) -> None:
        super().__init__(dest, min_count=min_count, build_id=build_id, data_offset=HEADER_SIZE)
        self.codes = self._open("codes")
        self._carry: tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]] | None = None
        self._last = -1
        self.dropped = 0

    def add(self, keys: npt.NDArray[np.uint64], counts: npt.NDArray[np.uint64]) -> None:
        """Append a sorted batch; its first keys may equal the previous batch's last."""
        if not len(keys):
            return
        if self._carry is not None:
            keys = np.concatenate((self._carry[0], keys))
            counts = np.concatenate((self._carry[1], counts))
        keys, counts = sum_sorted(keys, counts)
        self._carry = (keys[-1:], counts[-1:])
        self._emit(keys[:-1], counts[:-1])

    def _emit(self, keys: npt.NDArray[np.uint64], counts: npt.NDArray[np.uint64]) -> None:
        if not len(keys):
            return
        if int(keys[0]) <= self._last:
            raise RuntimeError("index entries must arrive in ascending order")
        self._last = int(keys[-1])
        if self.min_count > 1:
            keep = counts >= self.min_count
            self.dropped += len(keys) - int(keep.sum())
            keys, counts = keys[keep], counts[keep]
        keys.astype("<u8", copy=False).tofile(self.main)
        encode_counts(counts).tofile(self.codes)
        self.entries += len(keys)

    def finish(self) -> None:
        if self._carry is not None:
            self._emit(*self._carry)
            self._carry = None
        self._finish(b"", self.codes)


class RangeWriter(_Writer):
    """Builds the range companion from sorted, unique 20-byte digests (``S20`` arrays)."""

    magic = RANGE_MAGIC

    def __init__(self, dest: Path, *, min_count: int, build_id: bytes) -> None:
        super().__init__(
            dest, min_count=min_count, build_id=build_id, data_offset=HEADER_SIZE + OFFSETS_SIZE
        )
        self.counts = self._open("counts")
        self.per_prefix = np.zeros(PREFIXES, dtype=np.uint64)

    def add(self, digests: npt.NDArray[np.bytes_], counts: npt.NDArray[np.uint64]) -> None:
        raw = digests.view(np.uint8).reshape(-1, 20)
        raw.tofile(self.main)
        np.minimum(counts, MAX_COUNT).astype("<u4").tofile(self.counts)
        prefixes = (
            (raw[:, 0].astype(np.int64) << 12)
            | (raw[:, 1].astype(np.int64) << 4)
            | (raw[:, 2].astype(np.int64) >> 4)
        )
        self.per_prefix += np.bincount(prefixes, minlength=PREFIXES).astype(np.uint64)
        self.entries += len(raw)

    def finish(self) -> None:
        offsets = np.zeros(PREFIXES + 1, dtype="<u8")
        np.cumsum(self.per_prefix, out=offsets[1:])
        self._finish(offsets.tobytes(), self.counts)
