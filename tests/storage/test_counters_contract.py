"""One contract for every attack-protection counters backend: SQLite, PostgreSQL, Redis.

Time is a number passed in by the test (a manual clock): nothing here sleeps.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa

from passgate.domain import ip_throttle
from passgate.domain.brute_force import (
    PER_IDENTIFIER,
    PER_IDENTIFIER_AND_IP,
    attempt_key,
)
from passgate.domain.identifiers import identifier_subjects
from passgate.errors import StorageError
from passgate.storage.backends import open_counters
from passgate.storage.counters import (
    BLOCK_SECONDS,
    AttackCounters,
    AttemptKey,
    BlockRecord,
)
from passgate.storage.counters_fallback import FallbackCounters
from passgate.storage.counters_redis import RedisCounters
from passgate.storage.counters_sql import SqlCounters
from passgate.storage.db import make_engine, migrate
from passgate.storage.schema import ip_buckets, login_attempts, once_marks

T0 = 1_800_000_000.25
CONNECTION = "Username-Password-Authentication"


def _clear_sql(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        for table in (login_attempts, ip_buckets, once_marks):
            connection.execute(table.delete())


def _sql_rows(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return sum(
            int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
            for table in (login_attempts, ip_buckets, once_marks)
        )


def _clear_redis(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        for name in client.scan_iter(match=f"{prefix}*", count=500):
            client.delete(name)
    finally:
        client.close()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("fallback", marks=pytest.mark.redis),
        "fallback-redis-down",
    ]
)
def counters(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AttackCounters]:
    """Each backend, empty. ``fallback`` is Redis (up) with SQLite behind it, as
    ``PASSGATE_REDIS_UNAVAILABLE=fallback`` builds it: with Redis up, every test must
    leave the SQL tables empty (nothing is counted twice). ``fallback-redis-down`` is
    the same with Redis unreachable: everything is counted in SQLite."""
    if request.param == "fallback-redis-down":
        down = RedisCounters.from_url("redis://127.0.0.1:1/0", timeout_s=0.2)
        engine = make_engine(f"sqlite:///{tmp_path / 'counters.db'}")
        migrate(engine)
        try:
            yield FallbackCounters(down, SqlCounters(engine), retry_after_s=3600)
        finally:
            down.close()
            engine.dispose()
        return
    if request.param in ("redis", "fallback"):
        url: str = request.getfixturevalue("redis_url")
        prefix = f"passgate-test:{secrets.token_hex(6)}:"
        backend = RedisCounters.from_url(url, prefix=prefix)
        engine = make_engine(f"sqlite:///{tmp_path / 'counters.db'}")
        migrate(engine)
        try:
            if request.param == "fallback":
                yield FallbackCounters(backend, SqlCounters(engine))
                assert _sql_rows(engine) == 0, "counted in SQL while Redis was up"
            else:
                yield backend
        finally:
            backend.close()
            engine.dispose()
            _clear_redis(url, prefix)
        return
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'counters.db'}")
        migrate(engine)
    else:
        engine = make_engine(request.getfixturevalue("pg_url"))
        _clear_sql(engine)
    try:
        yield SqlCounters(engine)
    finally:
        engine.dispose()


def key_for(identifier: str = "alice@example.com", ip: str = "203.0.113.7") -> AttemptKey:
    return attempt_key(PER_IDENTIFIER_AND_IP, CONNECTION, identifier, ip)


def named(identifier: str, *connections: str) -> set[str]:
    """The subjects of an identifier that matches no account, in these connections."""
    found: set[str] = set()
    for connection in connections or (CONNECTION,):
        found |= identifier_subjects(connection, [identifier])
    return found


def fail(counters: AttackCounters, key: AttemptKey, times: int, now: float = T0) -> int:
    failures = 0
    for _ in range(times):
        assert counters.reserve_attempt(key, max_attempts=100, now=now).allowed
        failures = counters.record_failure(key, now=now)
    return failures


# --- reservations ------------------------------------------------------------------


def test_reservations_stop_at_max_attempts_while_in_flight(counters: AttackCounters) -> None:
    key = key_for()
    granted = [counters.reserve_attempt(key, max_attempts=3, now=T0) for _ in range(5)]
    assert [r.allowed for r in granted] == [True, True, True, False, False]
    assert all(r.failures == 0 for r in granted)


def test_a_released_reservation_frees_its_slot(counters: AttackCounters) -> None:
    key = key_for()
    for _ in range(2):
        assert counters.reserve_attempt(key, max_attempts=2, now=T0).allowed
    assert not counters.reserve_attempt(key, max_attempts=2, now=T0).allowed
    counters.release(key, now=T0)
    assert counters.reserve_attempt(key, max_attempts=2, now=T0).allowed
    assert not counters.reserve_attempt(key, max_attempts=2, now=T0).allowed


def test_abandoned_reservations_die_after_the_hold(counters: AttackCounters) -> None:
    key = key_for()
    for _ in range(2):
        assert counters.reserve_attempt(key, max_attempts=2, now=T0, hold_s=60).allowed
    assert not counters.reserve_attempt(key, max_attempts=2, now=T0 + 59.9).allowed
    assert counters.reserve_attempt(key, max_attempts=2, now=T0 + 60.0).allowed


def test_failures_and_live_reservations_share_the_budget(counters: AttackCounters) -> None:
    key = key_for()
    assert fail(counters, key, 2) == 2
    assert counters.reserve_attempt(key, max_attempts=3, now=T0).allowed
    refused = counters.reserve_attempt(key, max_attempts=3, now=T0)
    assert refused == type(refused)(allowed=False, failures=2)


def test_release_without_reservation_is_harmless(counters: AttackCounters) -> None:
    key = key_for()
    counters.release(key, now=T0)
    counters.record_success(key, now=T0)
    assert counters.failures(key, now=T0) == 0
    assert counters.reserve_attempt(key, max_attempts=1, now=T0).allowed


# --- failures, success, blocks -------------------------------------------------------


def test_failures_are_counted_per_key(counters: AttackCounters) -> None:
    alice, bob = key_for("alice"), key_for("bob")
    assert fail(counters, alice, 3) == 3
    assert counters.failures(alice, now=T0) == 3
    assert counters.failures(bob, now=T0) == 0
    assert counters.failures(key_for("alice", "198.51.100.1"), now=T0) == 0


def test_record_failure_releases_the_reservation(counters: AttackCounters) -> None:
    key = key_for()
    assert counters.reserve_attempt(key, max_attempts=2, now=T0).allowed
    assert counters.record_failure(key, now=T0) == 1
    assert counters.reserve_attempt(key, max_attempts=2, now=T0).allowed
    assert not counters.reserve_attempt(key, max_attempts=2, now=T0).allowed


def test_a_failure_without_reservation_keeps_the_others(counters: AttackCounters) -> None:
    key = key_for()
    assert counters.reserve_attempt(key, max_attempts=3, now=T0).allowed
    assert counters.record_failure(key, now=T0, release=False) == 1
    assert counters.reserve_attempt(key, max_attempts=3, now=T0).allowed
    assert not counters.reserve_attempt(key, max_attempts=3, now=T0).allowed


def test_success_resets_the_count_and_releases(counters: AttackCounters) -> None:
    key = key_for()
    fail(counters, key, 4)
    assert counters.reserve_attempt(key, max_attempts=5, now=T0).allowed
    counters.record_success(key, now=T0)
    assert counters.failures(key, now=T0) == 0
    for _ in range(5):
        assert counters.reserve_attempt(key, max_attempts=5, now=T0).allowed
    assert not counters.reserve_attempt(key, max_attempts=5, now=T0).allowed


def test_a_success_keeps_the_reservations_of_other_attempts_in_flight(
    counters: AttackCounters,
) -> None:
    key = key_for()
    fail(counters, key, 1)
    assert counters.reserve_attempt(key, max_attempts=3, now=T0).allowed
    assert counters.reserve_attempt(key, max_attempts=3, now=T0).allowed  # still running
    counters.record_success(key, now=T0)
    assert counters.failures(key, now=T0) == 0
    # The other attempt still holds its place: two more fit, not three.
    assert counters.reserve_attempt(key, max_attempts=3, now=T0).allowed
    assert counters.reserve_attempt(key, max_attempts=3, now=T0).allowed
    assert not counters.reserve_attempt(key, max_attempts=3, now=T0).allowed


def test_reaching_max_attempts_blocks_even_without_reservations(
    counters: AttackCounters,
) -> None:
    key = key_for()
    fail(counters, key, 3)
    refused = counters.reserve_attempt(key, max_attempts=3, now=T0 + 10)
    assert not refused.allowed
    assert refused.failures == 3


def test_raising_the_threshold_lifts_the_block(counters: AttackCounters) -> None:
    key = key_for()
    fail(counters, key, 3)
    assert not counters.reserve_attempt(key, max_attempts=3, now=T0).allowed
    assert counters.reserve_attempt(key, max_attempts=4, now=T0).allowed
    assert counters.record_failure(key, now=T0) == 4
    assert not counters.reserve_attempt(key, max_attempts=4, now=T0).allowed


def test_blocks_and_counts_expire_30_days_after_the_last_failure(
    counters: AttackCounters,
) -> None:
    key = key_for()
    fail(counters, key, 2, now=T0)
    fail(counters, key, 1, now=T0 + 86400)
    last = T0 + 86400
    assert counters.failures(key, now=last + BLOCK_SECONDS - 1) == 3
    assert not counters.reserve_attempt(key, max_attempts=3, now=last + BLOCK_SECONDS - 1).allowed
    assert counters.failures(key, now=last + BLOCK_SECONDS) == 0
    later = last + BLOCK_SECONDS
    assert counters.reserve_attempt(key, max_attempts=3, now=later).allowed
    assert counters.record_failure(key, now=later) == 1


def test_per_identifier_keys_ignore_the_ip(counters: AttackCounters) -> None:
    one = attempt_key(PER_IDENTIFIER, CONNECTION, "Alice", "203.0.113.7")
    other = attempt_key(PER_IDENTIFIER, CONNECTION, "alice ", "198.51.100.9")
    assert one == other
    fail(counters, one, 2)
    assert counters.failures(other, now=T0) == 2


def test_identifiers_with_separators_and_unicode_stay_apart(counters: AttackCounters) -> None:
    tricky = key_for("u", "1:2::3")
    other = key_for("u:1", "2::3")
    assert tricky.key != other.key
    fail(counters, tricky, 2)
    fail(counters, key_for("zoë%3A@example.com"), 1)
    assert counters.failures(other, now=T0) == 0
    assert counters.failures(key_for("Zoë%3A@example.com"), now=T0) == 1


# --- listing and removing blocks ----------------------------------------------------


def test_list_blocks(counters: AttackCounters) -> None:
    fail(counters, key_for("bob", "198.51.100.2"), 3)
    fail(counters, key_for("alice", "2001:db8::1"), 3)
    fail(counters, key_for("alice", "203.0.113.7"), 3)
    fail(counters, key_for("alice", "192.0.2.200"), 2)  # below the threshold
    fail(counters, attempt_key(PER_IDENTIFIER, CONNECTION, "alice", "192.0.2.1"), 3)

    blocks = counters.list_blocks(named("alice"), max_attempts=3, now=T0 + 5)
    assert [(b.identifier, b.ip) for b in blocks] == [
        ("alice", None),
        ("alice", "2001:db8::1"),
        ("alice", "203.0.113.7"),
    ]
    (subject,) = named("alice")
    assert blocks[1] == BlockRecord("alice", "2001:db8::1", CONNECTION, 3, T0, None, subject)

    everyone = counters.list_blocks(None, max_attempts=3, now=T0 + 5, per_ip=True)
    assert [(b.identifier, b.ip) for b in everyone] == [
        ("alice", "2001:db8::1"),
        ("alice", "203.0.113.7"),
        ("bob", "198.51.100.2"),
    ]
    per_identifier = counters.list_blocks(None, max_attempts=3, now=T0, per_ip=False)
    assert [(b.identifier, b.ip) for b in per_identifier] == [("alice", None)]
    assert len(counters.list_blocks(None, max_attempts=2, now=T0)) == 5
    assert counters.list_blocks(None, max_attempts=4, now=T0) == []
    assert counters.list_blocks(None, max_attempts=3, now=T0 + BLOCK_SECONDS) == []
    assert counters.list_blocks(named("carol"), max_attempts=1, now=T0) == []
    assert counters.list_blocks(set(), max_attempts=1, now=T0) == []


def test_an_accounts_keys_are_listed_and_removed_by_its_subject(counters: AttackCounters) -> None:
    """Every identifier of an account counts on the account's key; block records name the
    account (its email and id) whichever identifier was used."""
    by_name = attempt_key(
        PER_IDENTIFIER_AND_IP, CONNECTION, "alice", IP, user_id="auth0|a1", shown_as="A@x.io"
    )
    by_email = attempt_key(
        PER_IDENTIFIER_AND_IP, CONNECTION, "a@x.io", IP, user_id="auth0|a1", shown_as="A@x.io"
    )
    assert by_name == by_email
    fail(counters, by_name, 2)
    fail(counters, by_email, 1)
    assert counters.failures(by_name, now=T0) == 3
    account = identifier_subjects(CONNECTION, [], "auth0|a1")
    (record,) = counters.list_blocks(account, max_attempts=3, now=T0)
    assert (record.identifier, record.user_id, record.ip) == ("a@x.io", "auth0|a1", IP)
    assert counters.list_blocks(named("alice"), max_attempts=1, now=T0) == []
    assert counters.remove_blocks(account) == 1
    assert counters.failures(by_email, now=T0) == 0


def test_remove_blocks_for_one_ip(counters: AttackCounters) -> None:
    here, there = key_for("alice", "203.0.113.7"), key_for("alice", "198.51.100.2")
    fail(counters, here, 3)
    fail(counters, there, 3)
    assert counters.remove_blocks(named("alice"), "203.0.113.7") == 1
    assert counters.failures(here, now=T0) == 0
    assert counters.failures(there, now=T0) == 3
    assert counters.reserve_attempt(here, max_attempts=3, now=T0).allowed
    listed = counters.list_blocks(named("alice"), max_attempts=3, now=T0)
    assert [b.ip for b in listed] == ["198.51.100.2"]


def test_remove_blocks_for_every_ip_and_connection(counters: AttackCounters) -> None:
    fail(counters, key_for("alice", "203.0.113.7"), 3)
    fail(counters, key_for("alice", "198.51.100.2"), 1)
    other_connection = attempt_key(PER_IDENTIFIER_AND_IP, "legacy-db", "alice", "192.0.2.9")
    fail(counters, other_connection, 3)
    fail(counters, key_for("bob"), 3)
    both = named("alice", CONNECTION, "legacy-db")
    assert counters.remove_blocks(both, connection="legacy-db") == 1
    assert counters.failures(other_connection, now=T0) == 0
    assert counters.remove_blocks(both) == 2
    assert counters.remove_blocks(both) == 0
    assert counters.remove_blocks(set()) == 0
    assert counters.list_blocks(both, max_attempts=1, now=T0) == []
    assert counters.failures(key_for("bob"), now=T0) == 3


def test_removing_the_subjects_of_every_spelling_is_a_password_change(
    counters: AttackCounters,
) -> None:
    fail(counters, key_for("alice", "203.0.113.7"), 2)
    fail(counters, attempt_key(PER_IDENTIFIER, CONNECTION, "alice", "192.0.2.1"), 2)
    assert counters.remove_blocks(identifier_subjects(CONNECTION, [" ALICE "])) == 2
    assert counters.list_blocks(None, max_attempts=1, now=T0) == []


def test_long_non_ascii_identifiers_have_fixed_size_keys(counters: AttackCounters) -> None:
    """Keys are digests: an identifier of any length and script is counted (a real user
    with a long non-ASCII email must be able to log in), and listed under a label cut to
    its column with a marker."""
    long = "ü" * 2000 + "@例え.jp"
    key = key_for(long, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")
    assert len(key.key) <= 100
    assert fail(counters, key, 3) == 3
    (record,) = counters.list_blocks(named(long), max_attempts=3, now=T0)
    assert len(record.identifier) == 320
    assert record.identifier.endswith("…")


def test_removing_blocks_keeps_reservations_in_flight(counters: AttackCounters) -> None:
    key = key_for()
    fail(counters, key, 1)
    assert counters.reserve_attempt(key, max_attempts=2, now=T0).allowed
    assert counters.remove_blocks(named("alice@example.com")) == 1
    assert counters.reserve_attempt(key, max_attempts=2, now=T0).allowed
    assert not counters.reserve_attempt(key, max_attempts=2, now=T0).allowed


# --- IP buckets ----------------------------------------------------------------------

IP = "203.0.113.50"
STAGE = ip_throttle.PRE_LOGIN


def test_a_bucket_empties_after_capacity_and_refills_on_schedule(
    counters: AttackCounters,
) -> None:
    assert counters.bucket_tat(IP, STAGE) is None
    assert counters.has_token(IP, STAGE, capacity=3, rate_s=10.0, now=T0)
    for _ in range(3):
        assert counters.take_token(IP, STAGE, capacity=3, rate_s=10.0, now=T0)
    assert not counters.take_token(IP, STAGE, capacity=3, rate_s=10.0, now=T0)
    assert not counters.has_token(IP, STAGE, capacity=3, rate_s=10.0, now=T0 + 9.9)
    assert counters.bucket_tat(IP, STAGE) == pytest.approx(T0 + 30.0)
    # One token every 10 s.
    assert counters.has_token(IP, STAGE, capacity=3, rate_s=10.0, now=T0 + 10.0)
    assert counters.take_token(IP, STAGE, capacity=3, rate_s=10.0, now=T0 + 10.0)
    assert not counters.take_token(IP, STAGE, capacity=3, rate_s=10.0, now=T0 + 10.0)
    # Long idle: full again, but never more than the capacity.
    later = T0 + 3600
    taken = [counters.take_token(IP, STAGE, capacity=3, rate_s=10.0, now=later) for _ in range(5)]
    assert taken == [True, True, True, False, False]


def test_refused_takes_never_push_the_refill_back(counters: AttackCounters) -> None:
    for _ in range(10):
        counters.take_token(IP, STAGE, capacity=2, rate_s=5.0, now=T0)
    assert counters.bucket_tat(IP, STAGE) == pytest.approx(T0 + 10.0)
    assert counters.take_token(IP, STAGE, capacity=2, rate_s=5.0, now=T0 + 5.0)


def test_buckets_are_per_ip_and_stage(counters: AttackCounters) -> None:
    assert counters.take_token(IP, STAGE, capacity=1, rate_s=60.0, now=T0)
    assert not counters.take_token(IP, STAGE, capacity=1, rate_s=60.0, now=T0)
    other_stage = ip_throttle.PRE_USER_REGISTRATION
    assert counters.take_token(IP, other_stage, capacity=1, rate_s=60.0, now=T0)
    assert counters.take_token("2001:db8::50", STAGE, capacity=1, rate_s=60.0, now=T0)


def test_refill_empties_the_ips_history(counters: AttackCounters) -> None:
    assert counters.refill(IP) is False
    for stage in ip_throttle.STAGES:
        assert counters.take_token(IP, stage, capacity=1, rate_s=60.0, now=T0)
    assert counters.take_token("192.0.2.1", STAGE, capacity=1, rate_s=60.0, now=T0)
    assert counters.refill(IP) is True
    assert counters.bucket_tat(IP, STAGE) is None
    for stage in ip_throttle.STAGES:
        assert counters.take_token(IP, stage, capacity=1, rate_s=60.0, now=T0)
    assert not counters.take_token("192.0.2.1", STAGE, capacity=1, rate_s=60.0, now=T0)


def test_bucket_tats_reads_several_stages_of_one_ip_at_once(counters: AttackCounters) -> None:
    assert counters.bucket_tats(IP, ["pre-login", "sul:x"]) == {"pre-login": None, "sul:x": None}
    assert counters.take_token(IP, "pre-login", capacity=5, rate_s=60.0, now=T0)
    assert counters.take_token("192.0.2.1", "sul:x", capacity=5, rate_s=60.0, now=T0)
    tats = counters.bucket_tats(IP, ["pre-login", "sul:x"])
    assert tats == {"pre-login": counters.bucket_tat(IP, "pre-login"), "sul:x": None}
    assert tats["pre-login"] is not None
    assert tats["pre-login"] > T0


def test_buckets_follow_the_pure_gcra_rule(counters: AttackCounters) -> None:
    """A pseudo-random schedule gives the same answers and tat as the pure functions."""
    rng = random.Random(7)
    capacity, rate_s = 5, 34.56
    now, tat = T0, None
    for _ in range(120):
        now += rng.choice([0.0, 0.0, 1.0, rate_s / 3, rate_s, 3 * rate_s])
        expected = ip_throttle.has_token(tat, now, capacity, rate_s)
        assert counters.has_token(IP, STAGE, capacity=capacity, rate_s=rate_s, now=now) is expected
        assert counters.take_token(IP, STAGE, capacity=capacity, rate_s=rate_s, now=now) is (
            expected
        )
        tat = ip_throttle.after_consume(tat, now, capacity, rate_s)
        assert counters.bucket_tat(IP, STAGE) == tat


# --- once ----------------------------------------------------------------------------


def test_once_per_window(counters: AttackCounters) -> None:
    assert counters.once("notify:203.0.113.7", ttl_s=3600, now=T0)
    assert not counters.once("notify:203.0.113.7", ttl_s=3600, now=T0 + 3599)
    assert counters.once("notify:198.51.100.1", ttl_s=3600, now=T0 + 10)
    assert counters.once("notify:203.0.113.7", ttl_s=3600, now=T0 + 3600)
    assert not counters.once("notify:203.0.113.7", ttl_s=3600, now=T0 + 3601)


# --- maintenance ---------------------------------------------------------------------


def test_purge_forgets_only_what_holds_no_state(counters: AttackCounters) -> None:
    now = T0 + 40 * 86400
    blocked, forgotten, in_flight = key_for("blocked@x.test"), key_for("old@x.test"), key_for()
    fail(counters, blocked, 3, now=now - 86400)
    fail(counters, forgotten, 3, now=T0)  # more than 30 days before now
    assert counters.reserve_attempt(in_flight, max_attempts=1, now=now).allowed
    assert counters.take_token("192.0.2.1", STAGE, capacity=5, rate_s=10.0, now=T0)  # full again
    assert counters.take_token("192.0.2.2", STAGE, capacity=2, rate_s=10.0, now=now)
    assert counters.take_token("192.0.2.2", STAGE, capacity=2, rate_s=10.0, now=now)
    assert counters.once("mail:old", ttl_s=3600, now=T0)
    assert counters.once("mail:new", ttl_s=3600, now=now)

    removed = counters.purge(now)
    # SQL deletes the forgotten key, the full bucket and the old mark; Redis expires keys
    # (and with Redis up, the fallback's SQL counters hold nothing).
    expiring = isinstance(counters, RedisCounters) or (
        isinstance(counters, FallbackCounters) and not counters.describe()["primary_down"]
    )
    assert removed == (0 if expiring else 3)
    assert counters.purge(now) == 0  # what is left holds state
    assert counters.failures(blocked, now=now) == 3
    assert counters.failures(forgotten, now=now) == 0
    assert not counters.reserve_attempt(in_flight, max_attempts=1, now=now).allowed
    assert not counters.has_token("192.0.2.2", STAGE, capacity=2, rate_s=10.0, now=now)
    takes = [
        counters.take_token("192.0.2.1", STAGE, capacity=5, rate_s=10.0, now=now) for _ in range(6)
    ]
    assert takes == [True] * 5 + [False]
    assert not counters.once("mail:new", ttl_s=3600, now=now + 1)
    assert counters.once("mail:old", ttl_s=3600, now=now)


# --- faults and selection ------------------------------------------------------------


def test_unreachable_redis_is_a_storage_error_quickly() -> None:
    backend = RedisCounters.from_url("redis://127.0.0.1:1/0", timeout_s=0.2)
    try:
        with pytest.raises(StorageError, match="reserve_attempt"):
            backend.reserve_attempt(key_for(), max_attempts=3, now=T0)
        with pytest.raises(StorageError):
            backend.take_token(IP, STAGE, capacity=1, rate_s=1.0, now=T0)
        with pytest.raises(StorageError):
            backend.list_blocks(None, max_attempts=1, now=T0)
    finally:
        backend.close()


def test_a_broken_database_is_a_storage_error(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'missing' / 'dir' / 'x.db'}")
    try:
        with pytest.raises(StorageError, match="record_failure"):
            SqlCounters(engine).record_failure(key_for(), now=T0)
    finally:
        engine.dispose()


def test_open_counters_picks_the_backend_by_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    engine = make_engine(url)
    try:
        assert isinstance(open_counters(url, engine=engine), SqlCounters)
    finally:
        engine.dispose()
    backend = open_counters("redis://127.0.0.1:1/0")
    assert isinstance(backend, RedisCounters)
    backend.close()
