"""Gauges read now and then from what a process already knows, off the request path.

:class:`GaugeSampler` takes plain functions (the composition root supplies them), so it
depends on no service: every second it reads the hashing queue, the event writer's
backlog, the counters backend's state and the breached-password index; about once a
minute one process of the server (the :class:`~passgate.observability.multiproc.Election`
winner) counts the active brute-force blocks.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from passgate.observability.metrics import Metrics
from passgate.observability.multiproc import Election

__all__ = ["ACTIVE_BLOCKS_INTERVAL_S", "SAMPLE_INTERVAL_S", "GaugeSampler", "GaugeSources"]

SAMPLE_INTERVAL_S = 1.0
ACTIVE_BLOCKS_INTERVAL_S = 60.0


@dataclasses.dataclass(frozen=True)
class GaugeSources:
    #: Password checks waiting for a hashing thread.
    hash_queue: Callable[[], int]
    #: Events not written yet.
    event_backlog: Callable[[], int]
    #: (backend, state): ``("sql", "ok")``, ``("redis", "ok" | "fallback" | "refusing")``.
    backend_state: Callable[[], tuple[str, str]]
    #: (entries, built at as a Unix time) of the loaded breached index; None without one.
    breached_index: Callable[[], tuple[int, float] | None]
    #: Brute-force blocks in force now (a query: run once a minute by one process).
    active_blocks: Callable[[], int]


class GaugeSampler:
    def __init__(
        self,
        metrics: Metrics,
        sources: GaugeSources,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._metrics = metrics
        self._sources = sources
        self._clock = clock
        self._election = Election(metrics.multiproc_dir, "active-blocks")

    def sample(self) -> None:
        """The cheap gauges (each a read of this process's memory, or one Redis PING)."""
        metrics, sources = self._metrics, self._sources
        metrics.hash_queue.set(sources.hash_queue())
        metrics.event_backlog.set(sources.event_backlog())
        metrics.set_backend_state(*sources.backend_state())
        index = sources.breached_index()
        if index is None:
            metrics.breached_entries.set(0)
            metrics.breached_age.set(0)
        else:
            entries, built = index
            metrics.breached_entries.set(entries)
            metrics.breached_age.set(max(0.0, self._clock() - built))

    def sample_blocks(self) -> None:
        """The active blocks, when this process is the one of its server that counts them."""
        if self._election.held():
            self._metrics.active_blocks.set(self._sources.active_blocks())

    def close(self) -> None:
        self._election.close()
