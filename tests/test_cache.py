"""The time-to-live cache: the records a token request names, protection's remembered
refusals and upstream range answers all go through it."""

from __future__ import annotations

import threading

import pytest

from passgate.support.cache import MISS, TtlCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_an_answer_is_kept_for_the_ttl_then_loaded_again(clock: Clock) -> None:
    loads: list[str] = []
    store = {"a": 1}

    def load(key: str) -> int | None:
        loads.append(key)
        return store.get(key)

    cached = TtlCache(load, ttl=5.0, clock=clock)
    assert cached.get("a") == 1
    store["a"] = 2
    clock.now += 4.9
    assert cached.get("a") == 1  # within the TTL: the kept answer
    clock.now += 0.2
    assert cached.get("a") == 2  # expired: loaded again
    assert loads == ["a", "a"]


def test_a_missing_record_is_remembered_too(clock: Clock) -> None:
    loads: list[str] = []

    def load(key: str) -> None:
        loads.append(key)

    cached: TtlCache[str, None] = TtlCache(load, ttl=5.0, clock=clock)
    assert cached.get("nobody") is None
    assert cached.get("nobody") is None
    assert loads == ["nobody"]


def test_beyond_its_size_the_oldest_loaded_goes_first(clock: Clock) -> None:
    loads: list[int] = []

    def load(key: int) -> int:
        loads.append(key)
        return key * 10

    cached = TtlCache(load, ttl=60.0, size=2, clock=clock)
    cached.get(1)
    cached.get(2)
    cached.get(3)  # 1 goes
    assert cached.get(2) == 20
    assert cached.get(3) == 30
    assert loads == [1, 2, 3]
    assert cached.get(1) == 10  # loaded again, and 2 (now the oldest loaded) goes
    assert loads == [1, 2, 3, 1]
    cached.get(3)
    cached.get(2)
    assert loads == [1, 2, 3, 1, 2]


def test_clear_forgets_everything(clock: Clock) -> None:
    loads: list[str] = []

    def load(key: str) -> str:
        loads.append(key)
        return key

    cached = TtlCache(load, ttl=60.0, clock=clock)
    cached.get("a")
    cached.clear()
    cached.get("a")
    assert loads == ["a", "a"]


def test_threads_reading_and_loading_at_once_get_right_answers() -> None:
    cached: TtlCache[int, int] = TtlCache(lambda key: key * 2, ttl=0.001, size=50)
    failures: list[str] = []

    def read(offset: int) -> None:
        for n in range(5000):
            key = (n + offset) % 80
            if cached.get(key) != key * 2:
                failures.append(f"{key}")

    threads = [threading.Thread(target=read, args=(k * 7,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_a_missing_record_is_forgotten_after_the_negative_ttl(clock: Clock) -> None:
    store: dict[str, int] = {}
    loads: list[str] = []

    def load(key: str) -> int | None:
        loads.append(key)
        return store.get(key)

    cached = TtlCache(load, ttl=60.0, negative_ttl=1.0, clock=clock)
    assert cached.get("new") is None
    store["new"] = 7  # created by another process
    clock.now += 0.9
    assert cached.get("new") is None  # the kept negative answer
    clock.now += 0.2
    assert cached.get("new") == 7  # expired after 1 s, not the 60 s of found records
    clock.now += 30
    assert cached.get("new") == 7
    assert loads == ["new", "new"]


def test_unknown_keys_never_evict_known_ones(clock: Clock) -> None:
    loads: list[str] = []

    def load(key: str) -> str | None:
        loads.append(key)
        return key.upper() if key.startswith("known") else None

    cached = TtlCache(load, ttl=60.0, size=3, negative_size=2, clock=clock)
    for name in ("known1", "known2", "known3"):
        cached.get(name)
    for n in range(1000):  # a flood of random unknown keys
        assert cached.get(f"random{n}") is None
    loads.clear()
    assert [cached.get(name) for name in ("known1", "known2", "known3")] == [
        "KNOWN1",
        "KNOWN2",
        "KNOWN3",
    ]
    assert loads == []  # all still cached
    # The negative store keeps at most negative_size answers, the newest.
    assert cached.get("random999") is None
    assert cached.get("random998") is None
    assert loads == []
    assert cached.get("random0") is None
    assert loads == ["random0"]


def test_peek_answers_from_the_cache_only(clock: Clock) -> None:
    loads: list[str] = []

    def load(key: str) -> int | None:
        loads.append(key)
        return 1 if key == "a" else None

    cached = TtlCache(load, ttl=5.0, negative_ttl=1.0, clock=clock)
    assert cached.peek("a") is MISS
    assert cached.peek("b") is MISS
    assert loads == []
    cached.get("a")
    cached.get("b")
    assert cached.peek("a") == 1
    assert cached.peek("b") is None  # a cached negative answer, not a miss
    clock.now += 1.1
    assert cached.peek("a") == 1
    assert cached.peek("b") is MISS
    clock.now += 4
    assert cached.peek("a") is MISS
    assert loads == ["a", "b"]


def test_a_record_that_appears_or_goes_moves_between_the_stores(clock: Clock) -> None:
    store: dict[str, int] = {}
    cached = TtlCache(store.get, ttl=1.0, size=10, negative_size=10, clock=clock)
    assert cached.get("k") is None
    store["k"] = 1
    clock.now += 1.1
    assert cached.get("k") == 1
    del store["k"]
    clock.now += 1.1
    assert cached.get("k") is None
    assert cached.peek("k") is None
    cached.clear()
    assert cached.peek("k") is MISS


def test_put_keeps_an_answer_until_the_time_given(clock: Clock) -> None:
    cached: TtlCache[str, str] = TtlCache(ttl=60.0, clock=clock)
    cached.put("ip:a", "refused", until=clock.now + 0.5)
    cached.put("ip:b", "refused")  # the cache's own time to live
    clock.now += 0.4
    assert cached.peek("ip:a") == "refused"
    clock.now += 0.1
    assert cached.peek("ip:a") is MISS  # kept until then, not after
    assert cached.peek("ip:b") == "refused"
    clock.now += 60
    assert cached.peek("ip:b") is MISS
    assert len(cached) == 2  # expired answers stay stored until replaced or evicted


def test_without_a_load_function_get_refuses(clock: Clock) -> None:
    cached: TtlCache[str, int] = TtlCache(clock=clock)
    with pytest.raises(TypeError, match="peek and put"):
        cached.get("a")


def test_keep_recently_used_evicts_the_least_recently_used(clock: Clock) -> None:
    loads: list[str] = []

    def load(key: str) -> str:
        loads.append(key)
        return key

    cached = TtlCache(load, ttl=60.0, size=2, keep_recently_used=True, clock=clock)
    cached.get("a")
    cached.get("b")
    assert cached.peek("a") == "a"  # a use: "b" is now the least recently used
    cached.get("c")  # "b" goes
    assert cached.peek("b") is MISS
    assert [cached.get(key) for key in ("a", "c")] == ["a", "c"]
    assert loads == ["a", "b", "c"]


def test_a_negative_size_of_zero_keeps_no_missing_answer(clock: Clock) -> None:
    loads: list[str] = []

    def load(key: str) -> int | None:
        loads.append(key)
        return None

    cached = TtlCache(load, ttl=60.0, negative_size=0, clock=clock)
    assert cached.get("down") is None
    assert cached.get("down") is None
    assert loads == ["down", "down"]
    assert len(cached) == 0


def test_an_error_of_the_load_function_keeps_nothing(clock: Clock) -> None:
    def load(key: str) -> int:
        raise ConnectionError("database gone")

    cached = TtlCache(load, ttl=60.0, clock=clock)
    with pytest.raises(ConnectionError):
        cached.get("a")
    assert cached.peek("a") is MISS
