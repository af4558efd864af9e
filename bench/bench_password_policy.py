"""What a connection's password rules cost: each check on its own, the dictionary's first
load, and a password change's history verification (one argon2 verification per kept
password, with the server's default parameters) for history sizes 1 to 24.

    .venv/bin/python bench/bench_password_policy.py [--rounds N]

Prints figures; not a test. The strength, dictionary and personal-information checks are
pure Python on the calling thread; history verification is what dominates a change.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from passgate.domain.password_policy import (
    StrengthPolicy,
    holds_personal_info,
    in_dictionary,
    personal_values,
)
from passgate.support import common_passwords as dictionary_module
from passgate.support.passwords import PasswordHasher


def per_call_us(fn: Callable[[], object], rounds: int) -> float:
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(rounds):
            fn()
        samples.append((time.perf_counter() - started) / rounds * 1e6)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20_000)
    args = parser.parse_args()

    started = time.perf_counter()
    words = dictionary_module.common_passwords()
    load_ms = (time.perf_counter() - started) * 1000
    print(f"dictionary: {len(words)} words, first load {load_ms:.1f} ms (once per process)")

    password = "Correct-Horse-Battery-9"
    for level in ("low", "fair", "good", "excellent"):
        policy = StrengthPolicy(level=level, min_length=12)
        cost = per_call_us(lambda policy=policy: policy.failed(password), args.rounds)
        print(f"strength check ({level:9}): {cost:7.2f} µs")
    custom = frozenset(f"word{i}" for i in range(200))
    cost = per_call_us(lambda: in_dictionary(password, words, custom), args.rounds)
    print(f"dictionary check (10,000 + 200 words): {cost:7.2f} µs")
    values = personal_values(
        email="ada.lovelace@example.com",
        username="countess",
        names=("Ada Lovelace", "Ada", "Lovelace", "Ada"),
    )
    cost = per_call_us(lambda: holds_personal_info(password, values), args.rounds)
    print(f"personal information check: {cost:7.2f} µs")

    hasher = PasswordHasher()  # the server's defaults: m=19456 KiB, t=2, p=1
    stored = [hasher.hash(f"old password {i}") for i in range(24)]
    one = per_call_us(lambda: hasher.verify(stored[0], password), 5)
    print(f"argon2id verification (default parameters): {one / 1000:7.1f} ms")
    for size in (1, 5, 10, 24):
        started = time.perf_counter()
        for stored_hash in stored[:size]:
            hasher.verify(stored_hash, password)
        total = (time.perf_counter() - started) * 1000
        print(f"history check, size {size:2} (a new password matches none): {total:7.1f} ms")


if __name__ == "__main__":
    main()
