"""The index file: exact lookups, approximate counts, size, and refusing bad files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from passgate.breached.errors import BreachedIndexError, BreachedRangeUnavailable
from passgate.breached.importer import import_corpus
from passgate.breached.index import COUNT_RELATIVE_ERROR, BreachedIndex, decode_count, encode_counts
from tests.breached.helpers import sha1_digest, write_lines


def _build(tmp_path: Path, entries: dict[bytes, int], *, with_range: bool = False) -> Path:
    source = write_lines(tmp_path / "h.txt", [f"{d.hex()}:{c}" for d, c in entries.items()])
    index_path = tmp_path / "breached.idx"
    import_corpus([source], index_path, with_range=with_range)
    return index_path


def _flip(digest: bytes, byte: int) -> bytes:
    return digest[:byte] + bytes([digest[byte] ^ 1]) + digest[byte + 1 :]


def test_present_and_absent_lookups_are_exact(tmp_path: Path) -> None:
    corpus = {hashlib.sha1(str(i).encode()).digest(): i % 20 + 1 for i in range(5000)}
    with BreachedIndex.open(_build(tmp_path, corpus)) as index:
        assert all(index.count(d) == c for d, c in corpus.items())
        absent = [hashlib.sha1(f"absent {i}".encode()).digest() for i in range(5000)]
        assert all(index.count(d) is None for d in absent)
        assert min(corpus) in index
        assert b"\x00" * 20 not in index
        assert b"\xff" * 20 not in index


def test_a_hash_differing_within_the_first_8_bytes_is_absent(tmp_path: Path) -> None:
    digest = sha1_digest("password")
    with BreachedIndex.open(_build(tmp_path, {digest: 5})) as index:
        for byte in range(8):
            assert index.count(_flip(digest, byte)) is None


def test_only_64_bits_are_kept_so_later_bytes_do_not_matter(tmp_path: Path) -> None:
    """Documented: a hash sharing the first 8 bytes of a corpus hash counts as found
    (probability for a random password: entries / 2**64, 1.1e-10 at 2 billion)."""
    digest = sha1_digest("password")
    with BreachedIndex.open(_build(tmp_path, {digest: 5})) as index:
        assert index.count(_flip(digest, 8)) == 5
        assert index.count(_flip(digest, 19)) == 5


def test_two_corpus_hashes_sharing_8_bytes_merge_with_summed_counts(tmp_path: Path) -> None:
    digest = sha1_digest("password")
    with BreachedIndex.open(_build(tmp_path, {digest: 5, _flip(digest, 12): 4})) as index:
        assert len(index) == 1
        assert index.count(digest) == 9


def test_index_takes_9_bytes_per_hash_plus_a_64_byte_header(tmp_path: Path) -> None:
    corpus = {hashlib.sha1(str(i).encode()).digest(): 1 for i in range(1000)}
    path = _build(tmp_path, corpus)
    assert path.stat().st_size == 64 + 9 * 1000
    with BreachedIndex.open(path) as index:
        stats = index.stats()
    assert stats["entries"] == 1000
    assert stats["bytes_per_hash"] == 9.064


@given(st.integers(min_value=1, max_value=2**32 - 1))
def test_counts_are_kept_within_the_documented_error(count: int) -> None:
    decoded = decode_count(int(encode_counts(np.array([count], dtype=np.uint64))[0]))
    assert abs(decoded - count) <= COUNT_RELATIVE_ERROR * count
    if count <= 22:
        assert decoded == count


def test_count_codes_are_monotonic_and_saturate() -> None:
    counts = np.unique(np.geomspace(1, 2**40, 100_000).astype(np.uint64))
    codes = encode_counts(counts)
    assert (np.diff(codes.astype(int)) >= 0).all()
    assert decode_count(int(encode_counts(np.array([2**40], dtype=np.uint64))[0])) == 2**32


def test_large_counts_come_back_approximately(tmp_path: Path) -> None:
    corpus = {sha1_digest("123456"): 37_359_195, sha1_digest("hunter2"): 23_000}
    with BreachedIndex.open(_build(tmp_path, corpus)) as index:
        for digest, count in corpus.items():
            found = index.count(digest)
            assert found is not None
            assert found != count  # not exact...
            assert abs(found - count) <= COUNT_RELATIVE_ERROR * count  # ...but close


def test_missing_index_names_the_import_command(tmp_path: Path) -> None:
    with pytest.raises(BreachedIndexError, match="passgate breached import"):
        BreachedIndex.open(tmp_path / "nope.idx")


def test_foreign_or_truncated_files_are_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.idx"
    foreign.write_bytes(b"x" * 200)
    with pytest.raises(BreachedIndexError, match="not a passgate index"):
        BreachedIndex.open(foreign)
    path = _build(tmp_path, {sha1_digest("a"): 1, sha1_digest("b"): 2})
    data = path.read_bytes()
    path.write_bytes(data[:-1])
    with pytest.raises(BreachedIndexError, match="truncated"):
        BreachedIndex.open(path)
    path.write_bytes(data[:10])
    with pytest.raises(BreachedIndexError, match="too short"):
        BreachedIndex.open(path)


def test_range_needs_the_companion(tmp_path: Path) -> None:
    digest = sha1_digest("password")
    with BreachedIndex.open(_build(tmp_path, {digest: 5})) as index:
        assert not index.has_range
        with pytest.raises(BreachedRangeUnavailable, match="--with-range"):
            index.range(digest.hex()[:5].upper())


def test_range_lists_full_suffixes_with_exact_counts(tmp_path: Path) -> None:
    digest = sha1_digest("password")
    twin = _flip(digest, 12)  # same 8 bytes: merged in the index, distinct in the range
    other = bytes.fromhex(digest.hex()[:5] + "0" * 35)
    corpus = {digest: 3_861_493, twin: 4, other: 1, sha1_digest("x"): 9}
    with BreachedIndex.open(_build(tmp_path, corpus, with_range=True)) as index:
        assert index.has_range
        prefix = digest.hex()[:5].upper()
        assert index.range(prefix) == sorted(
            [(d.hex()[5:].upper(), c) for d, c in corpus.items() if d.hex()[:5].upper() == prefix]
        )
        assert index.range("FFFFF") == [] or sha1_digest("x").hex().startswith("fffff")
        assert index.stats()["range_entries"] == 4
