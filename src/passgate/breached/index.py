"""The breached-password index: a memory-mapped, read-only, sorted array of SHA-1 prefixes.

Layout of the index file (little-endian)::

    header   64 bytes   magic "PGBRIDX\\0", version, flags, entry count, min_count,
                        build id (16 random bytes), creation time
    keys     8 x n      the first 8 bytes of each SHA-1 read as a big-endian integer,
                        sorted ascending, unique
    codes    1 x n      the approximate count of each key (see ``encode_counts``)

That is 9 bytes per hash plus 64. A lookup is one ``np.searchsorted`` on the keys (about
2 µs). Keeping 64 of the 160 bits makes membership exact for the hashes in the corpus and
gives, for a password *not* in it, a false-positive probability of n / 2**64 — 1.1e-10 at
2 billion entries (the requirement is ≤ 1e-9). Two corpus hashes that share their first
8 bytes are merged into one entry whose count is the sum; nothing distinguishes them.

Counts are stored on one byte: exact from 1 to 22, then on a geometric scale up to 2**32
(ratio about 1.085 between neighbouring codes); a decoded count is within
``COUNT_RELATIVE_ERROR`` (4.6 %) of the imported one. Good enough for a ``min_count``
policy and for range answers, and a third of the size of an exact 32-bit count.

The range companion (``<index>.range``, built by ``import --with-range``) exists because a
Pwned-Passwords-compatible range answer lists the 35 hex digits after the prefix, and the
index keeps only 16 of them: it cannot answer ``GET /range/ABCDE``. The companion holds the
full 20-byte hashes, sorted, with exact 32-bit counts (24 bytes per hash, plus a table of
2**20 + 1 offsets, one per prefix). It is optional because it is 2.7 times the size of the
index and only the range endpoint needs it; logins never touch it. It carries the build id
of the index it was built with and is ignored when they differ (a stale companion left
by an import without ``--with-range``, or an import interrupted between the two swaps).

Both files are opened once, with ``mmap`` read-only, so every worker process of a host
shares one copy in the page cache; they are never written in place (an import builds new
files and swaps them in with ``os.replace``).
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from passgate.breached.errors import BreachedIndexError, BreachedRangeUnavailable

__all__ = [
    "COUNT_RELATIVE_ERROR",
    "BreachedIndex",
    "IndexHeader",
    "decode_count",
    "encode_counts",
    "range_path",
]

INDEX_MAGIC = b"PGBRIDX\0"
RANGE_MAGIC = b"PGBRRNG\0"
VERSION = 1
HEADER = struct.Struct("<8sIIQQ16sQ8x")
HEADER_SIZE = HEADER.size
PREFIXES = 1 << 20
OFFSETS_SIZE = 8 * (PREFIXES + 1)
MAX_COUNT = 2**32 - 1
#: Counts up to this are kept exactly.
EXACT_COUNTS = 22
#: The largest relative error of a decoded count (tested over the whole range).
COUNT_RELATIVE_ERROR = 0.046


def _representatives() -> npt.NDArray[np.float64]:
    values = list(range(1, EXACT_COUNTS + 1))
    factor = (2.0**32 / EXACT_COUNTS) ** (1 / (255 - EXACT_COUNTS))
    for j in range(1, 256 - EXACT_COUNTS):
        values.append(max(values[-1] + 1, round(EXACT_COUNTS * factor**j)))
    assert len(values) == 255
    assert values[-1] == 2**32
    return np.array([0, *values], dtype=np.float64)


_REPRESENTATIVES = _representatives()
#: code -> count; code 0 is never written (counts start at 1).
_DECODE: list[int] = [int(v) for v in _REPRESENTATIVES]
_BOUNDS = np.sqrt(_REPRESENTATIVES[1:-1] * _REPRESENTATIVES[2:])


def encode_counts(counts: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint8]:
    """Map counts ≥ 1 to one-byte codes (nearest representative on a log scale)."""
    codes = np.searchsorted(_BOUNDS, counts.astype(np.float64), side="right") + 1
    return codes.astype(np.uint8)


def decode_count(code: int) -> int:
    return _DECODE[code]


def range_path(index_path: Path) -> Path:
    """Where the range companion of ``index_path`` lives."""
    return index_path.with_name(index_path.name + ".range")


@dataclass(frozen=True)
class IndexHeader:
    magic: bytes
    version: int
    flags: int
    entries: int
    min_count: int
    build_id: bytes
    created: int

    def pack(self) -> bytes:
        return HEADER.pack(
            self.magic,
            self.version,
            self.flags,
            self.entries,
            self.min_count,
            self.build_id,
            self.created,
        )

    @classmethod
    def unpack(cls, data: bytes) -> IndexHeader:
        return cls(*HEADER.unpack(data[:HEADER_SIZE]))


def _map(path: Path, magic: bytes, what: str) -> tuple[mmap.mmap, IndexHeader]:
    try:
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            if size < HEADER_SIZE:
                raise BreachedIndexError(f"{path}: not a passgate {what} (file too short)")
            mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    except FileNotFoundError:
        raise BreachedIndexError(
            f"{path}: no breached-password {what}; create it with `passgate breached import`"
        ) from None
    except OSError as exc:
        raise BreachedIndexError(f"{path}: cannot open: {exc.strerror or exc}") from exc
    header = IndexHeader.unpack(mapped[:HEADER_SIZE])
    if header.magic != magic:
        mapped.close()
        raise BreachedIndexError(f"{path}: not a passgate {what}")
    if header.version != VERSION:
        mapped.close()
        raise BreachedIndexError(f"{path}: {what} version {header.version}, expected {VERSION}")
    return mapped, header


class _RangeData:
    def __init__(self, path: Path, mapped: mmap.mmap, header: IndexHeader) -> None:
        n = header.entries
        if len(mapped) != HEADER_SIZE + OFFSETS_SIZE + 24 * n:
            raise BreachedIndexError(f"{path}: truncated range file")
        self.path = path
        self.mapped = mapped
        self.header = header
        self.offsets = np.frombuffer(mapped, "<u8", PREFIXES + 1, HEADER_SIZE)
        base = HEADER_SIZE + OFFSETS_SIZE
        self.digests = np.frombuffer(mapped, np.uint8, 20 * n, base).reshape(n, 20)
        self.counts = np.frombuffer(mapped, "<u4", n, base + 20 * n)

    def close(self) -> None:
        del self.offsets, self.digests, self.counts
        self.mapped.close()


class BreachedIndex:
    """A read-only view of an index file (and of its range companion, if any)."""

    def __init__(self, path: Path, mapped: mmap.mmap, header: IndexHeader) -> None:
        n = header.entries
        if len(mapped) != HEADER_SIZE + 9 * n:
            mapped.close()
            raise BreachedIndexError(f"{path}: truncated or damaged index file")
        self.path = path
        self.header = header
        self._mapped = mapped
        self._keys: npt.NDArray[np.uint64] = np.frombuffer(mapped, "<u8", n, HEADER_SIZE)
        self._codes: npt.NDArray[np.uint8] = np.frombuffer(mapped, np.uint8, n, HEADER_SIZE + 8 * n)
        self._n = n
        self._range: _RangeData | None = None
        self.range_status = "absent"
        companion = range_path(path)
        if companion.exists():
            range_mapped, range_header = _map(companion, RANGE_MAGIC, "range file")
            if range_header.build_id != header.build_id:
                range_mapped.close()
                self.range_status = "stale (from another import; ignored)"
            else:
                try:
                    self._range = _RangeData(companion, range_mapped, range_header)
                except BreachedIndexError:
                    range_mapped.close()
                    raise
                self.range_status = "present"

    @classmethod
    def open(cls, path: Path | str) -> BreachedIndex:
        """Map ``path`` read-only. Do it once at start-up; lookups then never touch the disk."""
        path = Path(path)
        mapped, header = _map(path, INDEX_MAGIC, "index")
        return cls(path, mapped, header)

    def __len__(self) -> int:
        return self._n

    def __enter__(self) -> BreachedIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Unmap the files. Lookups afterwards fail; only tests and the CLI need this."""
        self._keys = np.empty(0, dtype=np.uint64)
        self._codes = np.empty(0, dtype=np.uint8)
        self._n = 0
        self._mapped.close()
        if self._range is not None:
            self._range.close()
            self._range = None

    @property
    def min_count(self) -> int:
        """Hashes seen fewer times than this were left out at import."""
        return self.header.min_count

    def count(self, sha1_digest: bytes) -> int | None:
        """The approximate count of a SHA-1 digest (20 bytes), or None when absent."""
        key = np.uint64(int.from_bytes(sha1_digest[:8], "big"))
        keys = self._keys
        position = keys.searchsorted(key)
        if position < self._n and keys[position] == key:
            return _DECODE[int(self._codes[position])]
        return None

    def __contains__(self, sha1_digest: bytes) -> bool:
        return self.count(sha1_digest) is not None

    @property
    def has_range(self) -> bool:
        return self._range is not None

    def range(self, prefix: str) -> list[tuple[str, int]]:
        """``(SUFFIX, count)`` for every hash starting with ``prefix`` (5 hex digits).

        Suffixes are the 35 upper-case hex digits after the prefix, counts exact. Needs the
        range companion; raises ``BreachedRangeUnavailable`` without it.
        """
        if len(prefix) != 5:
            raise ValueError(f"a range prefix is 5 hex digits, got {prefix!r}")
        number = int(prefix, 16)
        data = self._range
        if data is None:
            raise BreachedRangeUnavailable(
                f"{self.path}: no range data ({self.range_status}); "
                "import the corpus with --with-range"
            )
        low, high = int(data.offsets[number]), int(data.offsets[number + 1])
        text = data.digests[low:high].tobytes().hex().upper()
        counts = data.counts[low:high].tolist()
        return [(text[40 * i + 5 : 40 * i + 40], counts[i]) for i in range(high - low)]

    def stats(self) -> dict[str, Any]:
        size = HEADER_SIZE + 9 * self._n
        result: dict[str, Any] = {
            "path": str(self.path),
            "entries": self._n,
            "min_count": self.header.min_count,
            "bytes": size,
            "bytes_per_hash": round(size / self._n, 3) if self._n else None,
            "build_id": self.header.build_id.hex(),
            "created": self.header.created,
            "false_positive_rate": self._n / 2.0**64,
            "count_relative_error": COUNT_RELATIVE_ERROR,
            "range": self.range_status,
        }
        if self._range is not None:
            result["range_entries"] = self._range.header.entries
            result["range_bytes"] = len(self._range.mapped)
        return result
