"""A small thread-safe cache with a time-to-live, for records read on every request."""

from __future__ import annotations

import enum
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Final, Generic, Literal, TypeVar

__all__ = ["MISS", "Miss", "TtlCache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Miss(enum.Enum):
    """What :meth:`TtlCache.peek` answers for a key it holds no live answer for."""

    MISS = enum.auto()


MISS: Final = Miss.MISS


class TtlCache(Generic[K, V]):
    """Loads through ``load`` and keeps each answer for ``ttl`` seconds.

    A change made by another process takes effect here within ``ttl`` seconds. Beyond
    ``size`` entries the oldest loaded goes first. A hit takes no lock (one dict read; a
    lock and an LRU reordering would cost several times that on every request).

    A ``None`` answer (no such record) is kept apart, at most ``negative_size`` of them
    for ``negative_ttl`` seconds (by default as found records): a flood of keys that name
    nothing is answered from memory when it repeats, and never evicts the records found.
    """

    def __init__(
        self,
        load: Callable[[K], V],
        *,
        ttl: float = 2.0,
        size: int = 10_000,
        negative_ttl: float | None = None,
        negative_size: int | None = None,
    ) -> None:
        self._load = load
        self._ttl = ttl
        self._size = size
        self._negative_ttl = ttl if negative_ttl is None else negative_ttl
        self._negative_size = size if negative_size is None else negative_size
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._absent: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def peek(self, key: K) -> V | Literal[Miss.MISS]:
        """The kept answer, or :data:`MISS` when there is none (never loads)."""
        hit = self._items.get(key)
        if hit is None:
            hit = self._absent.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        return MISS

    def get(self, key: K) -> V:
        """The kept answer, else the one ``load`` gives (blocking: it may read a database)."""
        now = time.monotonic()
        hit = self._items.get(key)
        if hit is None:
            hit = self._absent.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = self._load(key)
        if value is None:
            store, ttl, size = self._absent, self._negative_ttl, self._negative_size
        else:
            store, ttl, size = self._items, self._ttl, self._size
        with self._lock:
            self._items.pop(key, None)  # re-inserted last: the newest loaded
            self._absent.pop(key, None)
            store[key] = (now + ttl, value)
            while len(store) > size:
                store.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._absent.clear()
