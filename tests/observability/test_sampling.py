"""The sampled gauges and the server's metrics directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from passgate.observability.metrics import Metrics
from passgate.observability.multiproc import (
    Election,
    create_server_dir,
    reap_dead_processes,
    reclaim_stale_dirs,
    remove_server_dir,
)
from passgate.observability.sampling import GaugeSampler, GaugeSources
from passgate.storage.backends import counter_backend_state
from passgate.storage.counters_fallback import FallbackCounters
from passgate.storage.counters_redis import RedisCounters
from passgate.storage.counters_sql import SqlCounters
from passgate.storage.db import make_engine
from tests.processes import free_port


def dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(done.stdout)


def gauge(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_the_sampler_sets_every_gauge() -> None:
    metrics = Metrics()
    sources = GaugeSources(
        hash_queue=lambda: 3,
        event_backlog=lambda: 7,
        backend_state=lambda: ("redis", "fallback"),
        breached_index=lambda: (1234, 1000.0),
        active_blocks=lambda: 5,
    )
    sampler = GaugeSampler(metrics, sources, clock=lambda: 1060.0)
    sampler.sample()
    sampler.sample_blocks()
    assert gauge(metrics, "passgate_hash_queue_depth") == 3
    assert gauge(metrics, "passgate_event_writer_backlog") == 7
    state = "passgate_protection_backend_state"
    assert gauge(metrics, state, backend="redis", state="fallback") == 1
    assert gauge(metrics, state, backend="redis", state="ok") == 0
    assert gauge(metrics, state, backend="redis", state="refusing") == 0
    assert gauge(metrics, "passgate_breached_index_entries") == 1234
    assert gauge(metrics, "passgate_breached_index_age_seconds") == 60
    assert gauge(metrics, "passgate_active_blocks") == 5


def test_backend_states(tmp_path: Path, redis_url: str) -> None:
    sql = SqlCounters(make_engine(f"sqlite:///{tmp_path / 'c.db'}"))
    assert counter_backend_state(sql) == ("sql", "ok")
    up = RedisCounters.from_url(redis_url)
    down = RedisCounters.from_url(f"redis://127.0.0.1:{free_port()}/0", timeout_s=0.2)
    try:
        assert counter_backend_state(up) == ("redis", "ok")
        assert counter_backend_state(down) == ("redis", "refusing")
        assert counter_backend_state(FallbackCounters(up, sql)) == ("redis", "ok")
        assert counter_backend_state(FallbackCounters(down, sql)) == ("redis", "fallback")
    finally:
        up.close()
        down.close()


def test_a_killed_servers_directory_is_reclaimed(tmp_path: Path) -> None:
    stale = tmp_path / f"passgate-metrics-{dead_pid()}-abc"
    stale.mkdir()
    (stale / "counter_1.db").write_bytes(b"x")
    alive = tmp_path / f"passgate-metrics-{os.getpid()}-def"
    alive.mkdir()
    other = tmp_path / "passgate-metrics-notapid"
    other.mkdir()
    fresh = create_server_dir(tmp_path)
    assert not stale.exists()
    assert alive.exists()
    assert other.exists()
    assert fresh.exists()
    assert fresh.name.startswith(f"passgate-metrics-{os.getpid()}-")
    assert fresh.stat().st_mode & 0o077 == 0
    assert reclaim_stale_dirs(tmp_path) == []
    remove_server_dir(fresh)
    assert not fresh.exists()


def test_dead_processes_lose_their_live_gauges_only(tmp_path: Path) -> None:
    gone = dead_pid()
    for name in (f"gauge_livesum_{gone}.db", f"counter_{gone}.db", f"histogram_{gone}.db",
                 f"gauge_livesum_{os.getpid()}.db"):  # fmt: skip
        (tmp_path / name).write_bytes(b"")
    assert reap_dead_processes(str(tmp_path)) == [gone]
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(
        [f"counter_{gone}.db", f"histogram_{gone}.db", f"gauge_livesum_{os.getpid()}.db"]
    )


def test_one_process_holds_the_election(tmp_path: Path) -> None:
    first, second = Election(str(tmp_path), "blocks"), Election(str(tmp_path), "blocks")
    assert first.held()
    assert not second.held()
    first.close()
    assert second.held()
    second.close()
    assert Election(None, "blocks").held()


@pytest.mark.parametrize("max_clients", [1, 3])
def test_client_labels_are_capped(max_clients: int) -> None:
    metrics = Metrics(max_clients=max_clients)
    labels = [metrics.client_label(f"client-{n}") for n in range(5)]
    assert labels == [f"client-{n}" for n in range(max_clients)] + ["other"] * (5 - max_clients)
    assert metrics.client_label(None) == "none"
    assert metrics.client_label("client-0") == "client-0"
