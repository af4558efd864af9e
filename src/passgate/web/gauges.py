"""Where the metrics' gauges read their values, and the background calls that read them.

Nothing here runs on a request: the hashing pool's queue, the event writer's queue, the
counters backend and the breached index are read once a second; the active blocks (a
query) about once a minute by one process of the server.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from passgate.breached.checker import BreachedChecker
from passgate.observability.metrics import Metrics
from passgate.observability.sampling import (
    ACTIVE_BLOCKS_INTERVAL_S,
    SAMPLE_INTERVAL_S,
    GaugeSampler,
    GaugeSources,
)
from passgate.storage.backends import counter_backend_state
from passgate.storage.counters import AttackCounters
from passgate.storage.event_log import BufferedEventSink
from passgate.storage.settings_store import LivePolicies
from passgate.support.background import Periodic

__all__ = ["gauge_schedules", "gauge_sources"]


def _queue_depth(pool: ThreadPoolExecutor) -> Callable[[], int]:
    def depth() -> int:
        return pool._work_queue.qsize()

    return depth


def _index_facts(checker: BreachedChecker) -> Callable[[], tuple[int, float] | None]:
    def facts() -> tuple[int, float] | None:
        index = checker.index
        if index is None:
            return None
        return len(index), float(index.header.created)

    return facts


def gauge_sources(
    *,
    hash_pool: ThreadPoolExecutor,
    events: BufferedEventSink | None,
    counters: AttackCounters,
    breached: BreachedChecker,
    policies: LivePolicies,
    clock: Callable[[], float] = time.time,
) -> GaugeSources:
    def active_blocks() -> int:
        policy = policies.get_brute_force()
        return len(counters.list_blocks(None, max_attempts=policy.max_attempts, now=clock()))

    return GaugeSources(
        hash_queue=_queue_depth(hash_pool),
        event_backlog=(lambda: 0) if events is None else events.backlog,
        backend_state=lambda: counter_backend_state(counters),
        breached_index=_index_facts(breached),
        active_blocks=active_blocks,
    )


def gauge_schedules(
    metrics: Metrics,
    *,
    hash_pool: ThreadPoolExecutor,
    events: BufferedEventSink | None,
    counters: AttackCounters,
    breached: BreachedChecker,
    policies: LivePolicies,
) -> list[Periodic]:
    """The sampling calls of one server process (not started)."""
    sampler = GaugeSampler(
        metrics,
        gauge_sources(
            hash_pool=hash_pool,
            events=events,
            counters=counters,
            breached=breached,
            policies=policies,
        ),
    )
    return [
        Periodic(
            "passgate-gauges",
            sampler.sample,
            interval_s=SAMPLE_INTERVAL_S,
            what="sampling the metrics' gauges",
        ),
        Periodic(
            "passgate-active-blocks",
            sampler.sample_blocks,
            interval_s=ACTIVE_BLOCKS_INTERVAL_S,
            what="counting the active blocks",
        ),
    ]
