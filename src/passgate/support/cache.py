"""A small thread-safe cache with a time-to-live, for records read on every request."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["TtlCache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """Loads through ``load`` and keeps the answer (``None`` too) for ``ttl`` seconds.

    A change made by another process takes effect here within ``ttl`` seconds. Beyond
    ``size`` entries the oldest loaded goes first. A hit takes no lock (one dict read; a
    lock and an LRU reordering would cost several times that on every request).
    """

    def __init__(self, load: Callable[[K], V], *, ttl: float = 2.0, size: int = 10_000) -> None:
        self._load = load
        self._ttl = ttl
        self._size = size
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V:
        now = time.monotonic()
        hit = self._items.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = self._load(key)
        with self._lock:
            self._items.pop(key, None)  # re-inserted last: the newest loaded
            self._items[key] = (now + self._ttl, value)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
