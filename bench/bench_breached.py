"""Benchmark of the breached-password index: import rate, peak memory, size, lookups.

Generates a synthetic corpus of N random SHA-1 hashes in the Pwned Passwords "ordered by
hash" format (``SHA1HEX:COUNT`` lines, CRLF, sorted), imports it in a child process (so
its peak RSS is measured alone), then times lookups and ``BreachedChecker.is_breached``
in this process, and compares the latter with one Argon2id verification (the rest of a
password login) at passgate's default cost.

    python bench/bench_breached.py                       # 1 million hashes, quick
    python bench/bench_breached.py --sizes 10000000 100000000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from passgate.breached.checker import BreachedChecker
from passgate.breached.index import BreachedIndex

_HEX = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8)
_HEX_PAIRS = np.stack([_HEX[np.arange(256) >> 4], _HEX[np.arange(256) & 15]], axis=1)
CHUNK = 2_000_000
MAX_DIGITS = 8


def _lines(digests: npt.NDArray[np.uint8], counts: npt.NDArray[np.int64]) -> bytes:
    n = len(digests)
    digit_count = np.floor(np.log10(counts)).astype(np.int64) + 1
    width = 41 + MAX_DIGITS + 2
    out = np.zeros((n, width), dtype=np.uint8)
    out[:, :40] = _HEX_PAIRS[digests].reshape(n, 40)
    out[:, 40] = ord(":")
    rows = np.arange(n)
    for k in range(MAX_DIGITS):
        has = digit_count > k
        power = 10 ** np.maximum(digit_count - 1 - k, 0)
        out[rows[has], 41 + k] = 48 + (counts[has] // power[has]) % 10
    out[rows, 41 + digit_count] = 13
    out[rows, 42 + digit_count] = 10
    keep = np.arange(width) < (43 + digit_count)[:, None]
    return out[keep].tobytes()


def generate(path: Path, n: int, seed: int = 1) -> npt.NDArray[np.uint8]:
    """Write n sorted random hashes; return a sample of 100,000 of them (for lookups)."""
    rng = np.random.default_rng(seed)
    chunks = max(1, n // CHUNK)
    step = (1 << 64) // chunks
    samples = []
    with open(path, "wb") as file:
        for j in range(chunks):
            size = n // chunks + (1 if j < n % chunks else 0)
            low = rng.integers(0, step, size, dtype=np.uint64) + np.uint64(j * step)
            low.sort()
            digests = np.empty((size, 20), dtype=np.uint8)
            digests[:, :8] = low.astype(">u8").view(np.uint8).reshape(size, 8)
            digests[:, 8:] = rng.integers(0, 256, (size, 12), dtype=np.uint8)
            counts = np.minimum(np.floor(rng.pareto(1.0, size) + 1), 10**MAX_DIGITS - 1)
            file.write(_lines(digests, counts.astype(np.int64)))
            samples.append(digests[rng.integers(0, size, max(1, 100_000 // chunks))])
    return np.concatenate(samples)


def _child_import(corpus: str, index: str) -> None:
    import resource

    from passgate.breached.importer import import_corpus

    stats = import_corpus([corpus], index)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({**stats.as_dict(), "peak_rss_bytes": peak_kib * 1024}))


def _percentiles(samples_ns: list[int]) -> tuple[float, float]:
    ordered = sorted(samples_ns)
    return statistics.median(ordered) / 1000, ordered[int(len(ordered) * 0.99)] / 1000


def _time_lookups(index: BreachedIndex, digests: list[bytes]) -> tuple[float, float]:
    clock = time.perf_counter_ns
    samples = []
    for digest in digests:
        start = clock()
        index.count(digest)
        samples.append(clock() - start)
    return _percentiles(samples)


def _argon2_verify_us() -> float:
    from argon2 import PasswordHasher

    from passgate.settings import Settings

    settings = Settings()
    hasher = PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
    )
    encoded = hasher.hash("correct horse battery staple")
    start = time.perf_counter()
    for _ in range(10):
        hasher.verify(encoded, "correct horse battery staple")
    return (time.perf_counter() - start) / 10 * 1e6


def run(size: int, workdir: Path) -> dict[str, Any]:
    corpus = workdir / f"corpus-{size}.txt"
    index_path = workdir / f"index-{size}.idx"
    start = time.perf_counter()
    sample = generate(corpus, size)
    generated = time.perf_counter() - start
    corpus_bytes = corpus.stat().st_size
    child = subprocess.run(
        [sys.executable, __file__, "--child-import", str(corpus), str(index_path)],
        check=True,
        capture_output=True,
        text=True,
    )
    imported = json.loads(child.stdout)
    corpus.unlink()
    result: dict[str, Any] = {
        "size": size,
        "generate_s": round(generated, 1),
        "corpus_bytes": corpus_bytes,
        "import_s": round(imported["seconds"], 2),
        "import_hashes_per_s": imported["hashes_per_second"],
        "import_peak_rss_mib": round(imported["peak_rss_bytes"] / 2**20, 1),
        "index_bytes_per_hash": round(index_path.stat().st_size / imported["entries"], 3),
    }
    with BreachedIndex.open(index_path) as index:
        present = [bytes(row) for row in sample[:50_000]]
        absent = [secrets.token_bytes(20) for _ in range(50_000)]
        assert all(index.count(d) is not None for d in present[:1000])
        _time_lookups(index, present[:5000])  # warm the page cache and the code path
        result["lookup_present_median_us"], result["lookup_present_p99_us"] = _time_lookups(
            index, present
        )
        result["lookup_absent_median_us"], result["lookup_absent_p99_us"] = _time_lookups(
            index, absent
        )
        checker = BreachedChecker(index)
        passwords = [secrets.token_urlsafe(12) for _ in range(20_000)]
        clock = time.perf_counter_ns
        samples = []
        for password in passwords:
            begin = clock()
            checker.is_breached(password)
            samples.append(clock() - begin)
        result["is_breached_median_us"], result["is_breached_p99_us"] = _percentiles(samples)
        begin = clock()
        for password in passwords:
            hashlib.sha1(password.encode(), usedforsecurity=False).digest()
        result["sha1_us"] = round((clock() - begin) / len(passwords) / 1000, 3)
    index_path.unlink()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--child-import", nargs=2, metavar=("CORPUS", "INDEX"))
    args = parser.parse_args()
    if args.child_import:
        _child_import(*args.child_import)
        return
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-breached-", dir="."))
    workdir.mkdir(parents=True, exist_ok=True)
    argon2_us = _argon2_verify_us()
    print(f"argon2id verify at default settings: {argon2_us / 1000:.1f} ms", flush=True)
    results = []
    try:
        for size in args.sizes:
            result = run(size, workdir)
            result["login_overhead_pct"] = round(
                100 * result["is_breached_median_us"] / argon2_us, 4
            )
            results.append(result)
            print(json.dumps(result), flush=True)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    _table(results)


def _table(results: list[dict[str, Any]]) -> None:
    keys = [
        ("size", "hashes"),
        ("import_hashes_per_s", "import hashes/s"),
        ("import_s", "import s"),
        ("import_peak_rss_mib", "import peak RSS MiB"),
        ("index_bytes_per_hash", "index bytes/hash"),
        ("lookup_present_median_us", "lookup present median µs"),
        ("lookup_present_p99_us", "lookup present p99 µs"),
        ("lookup_absent_median_us", "lookup absent median µs"),
        ("lookup_absent_p99_us", "lookup absent p99 µs"),
        ("is_breached_median_us", "is_breached median µs"),
        ("login_overhead_pct", "login slower by %"),
    ]
    print()
    for key, label in keys:
        cells = []
        for i, result in enumerate(results):
            value = result[key]
            cell = f"{value:,}" if isinstance(value, int) else f"{value:,.3f}"
            if i:
                growth = value / results[0][key] if results[0][key] else float("nan")
                cell += f" (x{growth:.2f})"
            cells.append(cell)
        print(f"{label:28} " + "  ".join(f"{c:>22}" for c in cells))


if __name__ == "__main__":
    main()
