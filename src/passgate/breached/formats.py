"""Streaming readers for the breached-password input formats.

Three formats are read, each plain or gzip (told apart by the gzip magic bytes, never by
the file name), with LF or CRLF line ends and upper- or lower-case hex:

``sha1``
    One file of ``SHA1HEX:COUNT`` lines (the Pwned Passwords "ordered by hash" download;
    any order is accepted).
``range-dir``
    A directory of per-prefix range files ``ABCDE.txt`` (or ``ABCDE.txt.gz``) holding
    ``SUFFIX:COUNT`` lines, the suffix being the 35 hex digits after the 5-digit prefix
    named by the file (what the Pwned Passwords downloader writes). A single such file may
    also be given on its own.
``passwords``
    A plain list, one UTF-8 password per line, hashed with SHA-1 here; every occurrence
    counts once, so a password listed three times gets a count of 3.

``auto`` looks at the first non-empty line: 40 hex digits (optionally ``:COUNT``) is a
SHA-1 file, 35 hex digits in a file named like ``ABCDE.txt`` is a range file, and anything
else is a password list. A directory is always a range directory.

Refused, with an error naming the file and the line: NTLM hashes (32 hex digits: the
other Pwned Passwords download, useless for SHA-1 lookups), lines of the wrong shape,
bad hex, missing or non-decimal counts, counts above 12 digits, invalid UTF-8 in a
password list, truncated or corrupt gzip data. Empty lines are skipped; ``COUNT`` 0 lines
(the padding of range answers saved to disk) are dropped.

Parsing is vectorised with numpy over blocks of whole lines (32 MiB by default), so memory
stays bounded whatever the file size and no Python code runs per hash line. Each block is
returned as a :class:`Batch` of raw 20-byte digests and counts.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from io import BufferedReader
from itertools import chain
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from passgate.breached.errors import BreachedImportError

__all__ = ["BLOCK_SIZE", "FORMATS", "Batch", "Format", "read_source", "source_bytes"]

Format = Literal["auto", "sha1", "range-dir", "passwords"]
FORMATS: tuple[str, ...] = get_args(Format)

#: Bytes read per block; a block is parsed as one numpy batch.
BLOCK_SIZE = 32 * 1024 * 1024
#: Longest line accepted (a longer one is not a hash line, nor a plausible password).
MAX_LINE = 64 * 1024
MAX_COUNT_DIGITS = 12

_GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"
_PAD = bytes(64)
_RANGE_FILE = re.compile(r"([0-9A-Fa-f]{5})\.txt(\.gz)?")
_SHA1_LINE = re.compile(rb"[0-9A-Fa-f]{40}(:.*)?")
_NTLM_LINE = re.compile(rb"[0-9A-Fa-f]{32}(:.*)?")
_SUFFIX_LINE = re.compile(rb"[0-9A-Fa-f]{35}(:.*)?")

_NIBBLE = np.full(256, 255, dtype=np.uint8)
for _value, _char in enumerate(b"0123456789abcdef"):
    _NIBBLE[_char] = _value
    _NIBBLE[bytes([_char]).upper()[0]] = _value


@dataclass(frozen=True)
class Batch:
    """Hashes read from one block: ``digests`` is ``(n, 20)`` uint8, ``counts`` uint64."""

    digests: npt.NDArray[np.uint8]
    counts: npt.NDArray[np.uint64]

    def __len__(self) -> int:
        return len(self.counts)


def read_source(
    path: Path,
    fmt: Format = "auto",
    *,
    block_size: int = BLOCK_SIZE,
    on_read: Callable[[int], None] | None = None,
) -> Iterator[Batch]:
    """Yield the hashes of one source (a file or a range directory), block by block;
    ``on_read`` is told how many more bytes of the files (compressed) were read."""
    if fmt not in FORMATS:
        raise BreachedImportError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if path.is_dir():
        if fmt not in ("auto", "range-dir"):
            raise BreachedImportError(
                f"{path}: is a directory, which only --format range-dir reads"
            )
        yield from _read_range_dir(path, block_size, on_read)
        return
    if not path.exists():
        raise BreachedImportError(f"{path}: no such file or directory")
    match = _RANGE_FILE.fullmatch(path.name)
    if fmt == "range-dir" and match is None:
        raise BreachedImportError(f"{path}: a range file must be named ABCDE.txt (5 hex digits)")
    with _Source(path, on_read) as source:
        blocks = source.blocks(block_size)
        first = next(blocks, None)
        if first is None:
            raise BreachedImportError(f"{path}: empty file")
        kind: str = fmt
        detected = ""
        if fmt == "auto":
            kind, detected = _detect(path, first[0], first[1], match is not None)
        for data, line in chain([first], blocks):
            try:
                if kind == "passwords":
                    yield _parse_passwords(path, data, line)
                elif kind == "sha1":
                    yield _parse_hashes(path, data, line, 40, b"")
                else:
                    assert match is not None
                    yield _parse_hashes(path, data, line, 35, match.group(1).encode())
            except BreachedImportError as exc:
                if detected:
                    raise BreachedImportError(f"{exc} ({detected})") from None
                raise


class _Source:
    """A file read in blocks of whole lines, with gzip faults turned into import errors."""

    def __init__(self, path: Path, on_read: Callable[[int], None] | None = None) -> None:
        self.path = path
        self.on_read = on_read
        self.position = 0
        try:
            self.file = open(path, "rb")  # noqa: SIM115 - closed by __exit__
        except OSError as exc:
            raise BreachedImportError(f"{path}: cannot open: {exc.strerror or exc}") from exc
        self.gzip = self.file.peek(2)[:2] == _GZIP_MAGIC
        self.raw: gzip.GzipFile | BufferedReader = (
            gzip.GzipFile(fileobj=self.file) if self.gzip else self.file
        )

    def __enter__(self) -> _Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.raw.close()
        self.file.close()

    def blocks(self, block_size: int) -> Iterator[tuple[bytes, int]]:
        """Yield ``(data, first_line_number)``; ``data`` ends with a newline except at EOF."""
        leftover = b""
        line = 1
        first = True
        while True:
            try:
                block = self.raw.read(block_size)
            except (EOFError, OSError, zlib.error) as exc:
                what = "truncated or corrupt gzip data" if self.gzip else "read error"
                where = line + leftover.count(b"\n")
                raise BreachedImportError(f"{self.path}:{where}: {what}: {exc}") from exc
            if self.on_read is not None:
                position = self.file.tell()
                self.on_read(position - self.position)
                self.position = position
            if first:
                first = False
                block = block.removeprefix(_BOM)
            if not block:
                if leftover:
                    yield leftover, line
                return
            data = leftover + block if leftover else block
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                leftover = data
                if len(leftover) > MAX_LINE:
                    raise BreachedImportError(
                        f"{self.path}:{line}: line longer than {MAX_LINE} bytes"
                    )
                continue
            yield (data[:cut] if cut < len(data) else data), line
            line += data.count(b"\n", 0, cut)
            leftover = data[cut:]


def _detect(path: Path, data: bytes, line: int, range_name: bool) -> tuple[str, str]:
    for offset, raw in enumerate(data.split(b"\n", 64)[:64]):
        text = raw.removesuffix(b"\r")
        if not text:
            continue
        if _SHA1_LINE.fullmatch(text):
            return "sha1", (
                f"read as SHA1HEX:COUNT lines from line {line + offset}; "
                "use --format passwords for a password list"
            )
        if _NTLM_LINE.fullmatch(text):
            raise BreachedImportError(f"{path}:{line + offset}: {_NTLM_REASON}")
        if range_name and _SUFFIX_LINE.fullmatch(text):
            return "range-dir", ""
        return "passwords", ""
    return "passwords", ""


def source_bytes(path: Path) -> int:
    """The size of a source on disk (a file, or a range directory's files); 0 if missing."""
    try:
        if path.is_dir():
            return sum(
                entry.stat().st_size
                for entry in path.iterdir()
                if _RANGE_FILE.fullmatch(entry.name) and entry.is_file()
            )
        return path.stat().st_size
    except OSError:
        return 0


def _read_range_dir(
    path: Path, block_size: int, on_read: Callable[[int], None] | None
) -> Iterator[Batch]:
    names = sorted(
        entry.name
        for entry in path.iterdir()
        if _RANGE_FILE.fullmatch(entry.name) and entry.is_file()
    )
    if not names:
        raise BreachedImportError(f"{path}: no range files named ABCDE.txt in this directory")
    for name in names:
        match = _RANGE_FILE.fullmatch(name)
        assert match is not None
        prefix = match.group(1).encode()
        with _Source(path / name, on_read) as source:
            for data, line in source.blocks(block_size):
                yield _parse_hashes(path / name, data, line, 35, prefix)


_NTLM_REASON = (
    "NTLM hash (32 hex digits): passgate needs the SHA-1 version of the Pwned Passwords corpus"
)


def _parse_passwords(path: Path, data: bytes, line: int) -> Batch:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = line + data.count(b"\n", 0, exc.start)
        raise BreachedImportError(f"{path}:{where}: not valid UTF-8: {exc.reason}") from None
    sha1 = hashlib.sha1
    digests = b"".join(
        [
            sha1(p, usedforsecurity=False).digest()
            for p in data.replace(b"\r\n", b"\n").split(b"\n")
            if p
        ]
    )
    array = np.frombuffer(digests, dtype=np.uint8).reshape(-1, 20)
    return Batch(array, np.ones(len(array), dtype=np.uint64))


def _parse_hashes(path: Path, data: bytes, line: int, hexlen: int, prefix: bytes) -> Batch:
    """Parse ``HEX:COUNT`` lines (``hexlen`` hex digits, after the range ``prefix``)."""
    size = len(data)
    arr = np.frombuffer(data + _PAD, dtype=np.uint8)
    ends = np.flatnonzero(arr[:size] == 10)
    if not data.endswith(b"\n"):
        ends = np.append(ends, size)
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    nonempty = ends > starts
    carriage = np.zeros(len(ends), dtype=bool)
    carriage[nonempty] = arr[ends[nonempty] - 1] == 13
    ends -= carriage
    lengths = ends - starts
    line_index: npt.NDArray[np.intp] | None = None
    if not (lengths > 0).all():
        line_index = np.flatnonzero(lengths > 0)
        starts, ends, lengths = starts[line_index], ends[line_index], lengths[line_index]
    width = hexlen + 1
    rows = sliding_window_view(arr, width + MAX_COUNT_DIGITS)[starts]
    nibbles = _NIBBLE[np.ascontiguousarray(rows[:, :hexlen])]
    count_len = lengths - width
    digits = rows[:, width:] - np.uint8(48)
    in_count = np.arange(MAX_COUNT_DIGITS) < count_len[:, None]
    if (
        nibbles.max() > 15
        or (rows[:, hexlen] != 58).any()
        or count_len.min() < 1
        or count_len.max() > MAX_COUNT_DIGITS
        or ((digits > 9) & in_count).any()
    ):
        bad = (
            (rows[:, hexlen] != 58)
            | (count_len < 1)
            | (count_len > MAX_COUNT_DIGITS)
            | (nibbles > 15).any(axis=1)
            | (in_count & (digits > 9)).any(axis=1)
        )
        first = int(np.flatnonzero(bad)[0])
        number = first if line_index is None else int(line_index[first])
        text = data[int(starts[first]) : int(ends[first])]
        reason = _diagnose(text, hexlen)
        raise BreachedImportError(f"{path}:{line + number}: {reason}: {_preview(text)}")
    counts = np.zeros(len(starts), dtype=np.uint64)
    for j in range(int(count_len.max()) if len(count_len) else 0):
        column = digits[:, j].astype(np.uint64)
        counts = np.where(count_len > j, counts * np.uint64(10) + column, counts)
    if prefix:
        prefix_nibbles = _NIBBLE[np.frombuffer(prefix, dtype=np.uint8)]
        nibbles = np.concatenate(
            [np.broadcast_to(prefix_nibbles, (len(nibbles), len(prefix))), nibbles], axis=1
        )
    digests = (nibbles[:, 0::2] << 4) | nibbles[:, 1::2]
    real = counts > 0
    if not real.all():
        digests, counts = digests[real], counts[real]
    return Batch(np.ascontiguousarray(digests), counts)


def _diagnose(text: bytes, hexlen: int) -> str:
    ntlm = 32 - (40 - hexlen)
    hex_part, colon, count = text.partition(b":")
    if len(hex_part) == ntlm and _NIBBLE[np.frombuffer(hex_part, dtype=np.uint8)].max() < 16:
        return _NTLM_REASON
    if len(hex_part) != hexlen:
        return f"expected {hexlen} hex digits before ':', found {len(hex_part)} characters"
    if _NIBBLE[np.frombuffer(hex_part, dtype=np.uint8)].max() > 15:
        return "bad hex digit in the hash"
    if not colon:
        return "missing ':COUNT' after the hash"
    if not count:
        return "missing count after ':'"
    if not count.isdigit():
        return "count is not a decimal number"
    return f"count longer than {MAX_COUNT_DIGITS} digits"


def _preview(text: bytes) -> str:
    shown = text[:60].decode("utf-8", "replace")
    return repr(shown + ("..." if len(text) > 60 else ""))
