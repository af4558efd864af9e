"""Tenant settings: policies stored as JSON, defaults when absent, a short cache; and
the policies a server reads from memory (:class:`LivePolicies`)."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from passgate.domain.policy import (
    BreachedPasswordPolicy,
    BruteForcePolicy,
    PolicyError,
    SuspiciousIpPolicy,
    ThrottleStage,
    merge_patch,
)
from passgate.errors import StorageError
from passgate.storage.db import make_engine, migrate
from passgate.storage.schema import tenant_settings
from passgate.storage.settings_store import (
    BRUTE_FORCE_KEY,
    SUSPICIOUS_IP_KEY,
    LivePolicies,
    Policies,
    SettingsStore,
)


class ManualClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_absent_policies_are_the_defaults(engine: sa.Engine) -> None:
    store = SettingsStore(engine)
    assert store.get_brute_force() == BruteForcePolicy()
    assert store.get_suspicious_ip() == SuspiciousIpPolicy()
    assert store.get_breached_password() == BreachedPasswordPolicy()
    assert store.get_json("issuer") is None


def test_policies_round_trip_under_their_keys(engine: sa.Engine) -> None:
    store = SettingsStore(engine)
    brute = BruteForcePolicy(max_attempts=4, allowlist=("10.0.0.0/8",))
    throttling = SuspiciousIpPolicy(pre_login=ThrottleStage(5, 60000))
    breached = BreachedPasswordPolicy(shields=("block",))
    store.set_brute_force(brute)
    store.set_suspicious_ip(throttling)
    store.set_breached_password(breached)

    fresh = SettingsStore(engine)
    assert fresh.get_brute_force() == brute
    assert fresh.get_suspicious_ip() == throttling
    assert fresh.get_breached_password() == breached
    with engine.connect() as connection:
        keys = set(connection.execute(sa.select(tenant_settings.c.key)).scalars())
    assert keys == {
        "brute_force_protection",
        "suspicious_ip_throttling",
        "breached_password_detection",
    }
    assert fresh.get_json(BRUTE_FORCE_KEY) == brute.to_json()


def test_generic_json_values(engine: sa.Engine) -> None:
    store = SettingsStore(engine)
    store.set_json("default_directory", "Username-Password-Authentication")
    store.set_json("limits", {"a": [1, 2], "b": None})
    store.set_json("limits", {"a": [3]})
    assert store.get_json("default_directory") == "Username-Password-Authentication"
    value = store.get_json("limits")
    assert value == {"a": [3]}
    value["a"].append(4)  # callers get a copy, not the cache
    assert store.get_json("limits") == {"a": [3]}


def test_own_writes_are_seen_at_once(engine: sa.Engine) -> None:
    clock = ManualClock()
    store = SettingsStore(engine, clock=clock, cache_ttl_s=60)
    assert store.get_brute_force().max_attempts == 10
    store.set_brute_force(merge_patch(store.get_brute_force(), {"max_attempts": 3}))
    assert store.get_brute_force().max_attempts == 3


def test_other_processes_writes_are_seen_within_the_ttl(engine: sa.Engine) -> None:
    clock = ManualClock()
    worker = SettingsStore(engine, clock=clock, cache_ttl_s=1.0)
    cli = SettingsStore(engine, clock=clock)
    assert worker.get_brute_force().max_attempts == 10
    cli.set_brute_force(BruteForcePolicy(max_attempts=2))
    clock.now += 0.5
    assert worker.get_brute_force().max_attempts == 10  # cached
    clock.now += 0.5
    assert worker.get_brute_force().max_attempts == 2
    worker.set_json("x", 1)
    assert worker.get_json("x") == 1
    cli.set_json("x", 2)
    assert worker.get_json("x") == 1
    worker.invalidate()
    assert worker.get_json("x") == 2


def test_a_corrupt_setting_is_a_storage_error(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        connection.execute(
            tenant_settings.insert().values(key=BRUTE_FORCE_KEY, value='{"max_attempts": 0}')
        )
        connection.execute(tenant_settings.insert().values(key=SUSPICIOUS_IP_KEY, value="{"))
    store = SettingsStore(engine)
    with pytest.raises(StorageError, match=r"brute_force_protection.*max_attempts"):
        store.get_brute_force()
    with pytest.raises(StorageError, match="not valid JSON"):
        store.get_suspicious_ip()


def test_a_broken_database_is_a_storage_error(tmp_path: object) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path}/missing/dir/x.db")
    try:
        store = SettingsStore(engine)
        with pytest.raises(StorageError):
            store.get_brute_force()
        with pytest.raises(StorageError):
            store.set_json("k", 1)
    finally:
        engine.dispose()


# -- LivePolicies: what a server's requests read -----------------------------------------


@contextlib.contextmanager
def statements(engine: sa.Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def test_live_policies_are_read_once_then_from_memory(engine: sa.Engine) -> None:
    SettingsStore(engine).set_brute_force(BruteForcePolicy(max_attempts=4))
    with statements(engine) as seen:
        live = LivePolicies(SettingsStore(engine))
        assert len(seen) == 1  # the three policies in one query
        for _ in range(100):
            assert live.get_brute_force().max_attempts == 4
            assert live.get_suspicious_ip() == SuspiciousIpPolicy()
            assert live.get_breached_password() == BreachedPasswordPolicy()
        assert len(seen) == 1


def test_live_policies_see_other_writers_at_the_next_reload_and_own_writes_at_once(
    engine: sa.Engine,
) -> None:
    live = LivePolicies(SettingsStore(engine))
    cli = SettingsStore(engine)
    cli.set_brute_force(BruteForcePolicy(max_attempts=2))
    cli.set_breached_password(BreachedPasswordPolicy(shields=("block",)))
    assert live.get_brute_force().max_attempts == 10  # not read yet
    live.reload()
    assert live.get_brute_force().max_attempts == 2
    assert live.get_breached_password().shields == ("block",)
    throttling = SuspiciousIpPolicy(pre_login=ThrottleStage(5, 60000))
    live.set_suspicious_ip(throttling)
    assert live.get_suspicious_ip() == throttling
    assert SettingsStore(engine).get_suspicious_ip() == throttling


def test_a_reload_that_changes_nothing_keeps_the_very_policy_objects(engine: sa.Engine) -> None:
    """Refusals are remembered under the policy object they were decided under."""
    live = LivePolicies(SettingsStore(engine))
    brute, throttling = live.get_brute_force(), live.get_suspicious_ip()
    live.reload()
    assert live.get_brute_force() is brute
    assert live.get_suspicious_ip() is throttling
    SettingsStore(engine).set_brute_force(BruteForcePolicy(max_attempts=3))
    live.reload()
    assert live.get_brute_force() is not brute
    assert live.get_suspicious_ip() is throttling


def test_a_failing_reload_keeps_the_policies_in_use_and_logs_once(
    engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    store = SettingsStore(engine)
    store.set_brute_force(BruteForcePolicy(max_attempts=4))
    live = LivePolicies(store)
    with engine.begin() as connection:
        connection.execute(
            tenant_settings.update()
            .where(tenant_settings.c.key == BRUTE_FORCE_KEY)
            .values(value='{"max_attempts": 0}')
        )
    with caplog.at_level(logging.WARNING, logger="passgate.storage"):
        for _ in range(3):
            live.reload()
            assert live.get_brute_force().max_attempts == 4
    failures = [r for r in caplog.records if "reading the protection policies failed" in r.message]
    assert len(failures) == 1
    assert "max_attempts" in failures[0].message
    store.set_brute_force(BruteForcePolicy(max_attempts=5))
    live.reload()
    assert live.get_brute_force().max_attempts == 5


def test_until_a_first_read_succeeds_each_request_gets_its_error(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'later.db'}")  # no tables yet
    try:
        live = LivePolicies(SettingsStore(engine))
        with pytest.raises(StorageError, match="reading the protection policies failed"):
            live.get_brute_force()
        migrate(engine)
        live.reload()
        assert live.get_brute_force() == BruteForcePolicy()
    finally:
        engine.dispose()


def test_a_slow_reload_never_puts_back_what_a_later_change_replaced(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SettingsStore(engine)
    live = LivePolicies(store)
    real_read = store.read_policies
    read_done, go_on = threading.Event(), threading.Event()

    def slow_read() -> Policies:
        policies = real_read()  # read before the change below
        read_done.set()
        go_on.wait(timeout=10)
        return policies

    monkeypatch.setattr(store, "read_policies", slow_read)
    background = threading.Thread(target=live.reload)
    background.start()
    assert read_done.wait(timeout=10)
    monkeypatch.setattr(store, "read_policies", real_read)
    live.set_brute_force(BruteForcePolicy(max_attempts=7))
    go_on.set()
    background.join(timeout=10)
    assert live.get_brute_force().max_attempts == 7


def test_update_policy_returns_before_and_after_and_stores_after(engine: sa.Engine) -> None:
    store = SettingsStore(engine)
    before, after = store.update_policy(
        BruteForcePolicy, lambda current: merge_patch(current, {"max_attempts": 4})
    )
    assert before == BruteForcePolicy()
    assert after == BruteForcePolicy(max_attempts=4)
    assert SettingsStore(engine).get_brute_force() == after
    before, after = store.update_policy(
        BruteForcePolicy, lambda current: merge_patch(current, {"mode": "count_per_identifier"})
    )
    assert before.max_attempts == 4
    assert after == BruteForcePolicy(max_attempts=4, mode="count_per_identifier")


def test_a_refused_update_stores_nothing(engine: sa.Engine) -> None:
    store = SettingsStore(engine)
    store.set_suspicious_ip(SuspiciousIpPolicy(enabled=False))

    def refuse(current: SuspiciousIpPolicy) -> SuspiciousIpPolicy:
        return merge_patch(current, {"stage": {"pre-login": {"rate": 1}}})

    with pytest.raises(PolicyError, match=r"stage\.pre-login\.rate"):
        store.update_policy(SuspiciousIpPolicy, refuse)
    assert SettingsStore(engine).get_suspicious_ip() == SuspiciousIpPolicy(enabled=False)


def test_concurrent_updates_of_one_setting_lose_nothing(engine: sa.Engine) -> None:
    """Read-change-write by many threads at once, each with its own store (as workers
    and instances have): every increment lands, because each write is a compare-and-set
    on the text it read."""
    threads, rounds = 8, 10

    def work() -> None:
        store = SettingsStore(engine)
        for _ in range(rounds):
            store.update_json("counter", lambda value: (value or 0) + 1)

    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(work) for _ in range(threads)]:
            future.result()
    assert SettingsStore(engine).get_json("counter") == threads * rounds


def test_concurrent_patches_of_different_fields_all_land(engine: sa.Engine) -> None:
    patches: list[dict[str, object]] = [
        {"enabled": False},
        {"shields": ["block"]},
        {"allowlist": ["10.0.0.0/8"]},
        {"mode": "count_per_identifier"},
        {"max_attempts": 7},
    ]

    def apply(patch: dict[str, object]) -> None:
        SettingsStore(engine).update_policy(
            BruteForcePolicy, lambda current: merge_patch(current, patch)
        )

    with ThreadPoolExecutor(len(patches)) as pool:
        for future in [pool.submit(apply, patch) for patch in patches]:
            future.result()
    assert SettingsStore(engine).get_brute_force() == BruteForcePolicy(
        enabled=False,
        shields=("block",),
        allowlist=("10.0.0.0/8",),
        mode="count_per_identifier",
        max_attempts=7,
    )


def test_a_stored_policy_that_no_longer_validates_is_a_storage_error_on_update(
    engine: sa.Engine,
) -> None:
    store = SettingsStore(engine)
    store.set_json(BRUTE_FORCE_KEY, {"max_attempts": "ten"})
    with pytest.raises(StorageError, match="not a valid BruteForcePolicy"):
        store.update_policy(BruteForcePolicy, lambda current: current)
