"""The one in-process cache with a time to live, for answers read on every request.

Every cache in passgate is a :class:`TtlCache`: the records a token request names
(clients, connections, APIs), the refusals attack protection remembers for a second, the
range answers of an upstream breached-password API. One class keeps the rules in one
place: bounded, thread-safe, a clock that tests can drive, unknown keys kept apart.
"""

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
    """Keeps each answer for ``ttl`` seconds; loads a missing one through ``load``.

    A change made by another process takes effect here within ``ttl`` seconds. Beyond
    ``size`` entries the oldest stored goes first, or with ``keep_recently_used`` the
    least recently used. A hit takes no lock (one dict read; a lock and an LRU reordering
    would cost several times that on every request), except with ``keep_recently_used``.

    A ``None`` answer (no such record) is kept apart, at most ``negative_size`` of them
    for ``negative_ttl`` seconds (by default as found records): a flood of keys that name
    nothing is answered from memory when it repeats, and never evicts the records found.
    ``negative_size=0`` keeps no ``None`` answer at all.

    Without ``load`` the cache is filled by :meth:`put` and read by :meth:`peek` only.
    Times come from ``clock`` (``time.monotonic`` by default).
    """

    def __init__(
        self,
        load: Callable[[K], V] | None = None,
        *,
        ttl: float = 2.0,
        size: int = 10_000,
        negative_ttl: float | None = None,
        negative_size: int | None = None,
        keep_recently_used: bool = False,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._load = load
        self._ttl = ttl
        self._size = size
        self._negative_ttl = ttl if negative_ttl is None else negative_ttl
        self._negative_size = size if negative_size is None else negative_size
        self._keep_recently_used = keep_recently_used
        self._clock = time.monotonic if clock is None else clock
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._absent: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """How many answers are stored (expired ones included until they are replaced)."""
        return len(self._items) + len(self._absent)

    def peek(self, key: K) -> V | Literal[Miss.MISS]:
        """The kept answer, or :data:`MISS` when there is none (never loads)."""
        return self._live(key, self._clock())

    def get(self, key: K) -> V:
        """The kept answer, else the one ``load`` gives (blocking: it may read a database
        or the network; an error it raises reaches the caller and nothing is kept)."""
        if self._load is None:
            raise TypeError("this cache has no load function: use peek and put")
        now = self._clock()
        hit = self._live(key, now)
        if hit is not MISS:
            return hit
        value = self._load(key)
        self._keep(key, value, now + (self._ttl if value is not None else self._negative_ttl))
        return value

    def put(self, key: K, value: V, *, until: float | None = None) -> V:
        """Keep ``value`` for ``key`` until ``until`` on this cache's clock (by default
        for the time to live of its kind) and return it."""
        if until is None:
            ttl = self._ttl if value is not None else self._negative_ttl
            until = self._clock() + ttl
        self._keep(key, value, until)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._absent.clear()

    def _live(self, key: K, now: float) -> V | Literal[Miss.MISS]:
        store = self._items
        hit = store.get(key)
        if hit is None:
            store = self._absent
            hit = store.get(key)
        if hit is None or hit[0] <= now:
            return MISS
        if self._keep_recently_used:
            with self._lock:
                if key in store:
                    store.move_to_end(key)
        return hit[1]

    def _keep(self, key: K, value: V, until: float) -> None:
        if value is None:
            store, size = self._absent, self._negative_size
        else:
            store, size = self._items, self._size
        with self._lock:
            self._items.pop(key, None)  # re-inserted last: the newest stored
            self._absent.pop(key, None)
            store[key] = (until, value)
            while len(store) > size:
                store.popitem(last=False)
