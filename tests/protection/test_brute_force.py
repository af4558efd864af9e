"""Brute-force rules: keys, blocks, and what a failure sets off."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passgate.domain.brute_force import (
    BLOCK_SECONDS,
    PER_IDENTIFIER,
    PER_IDENTIFIER_AND_IP,
    BlockState,
    BruteForceMode,
    attempt_key,
    block_ends_at,
    effective_failures,
    failure_outcome,
    is_blocked,
    protection_mode,
    visible_blocks,
)
from passgate.domain.identifiers import canonical_identifier
from passgate.domain.policy import BruteForcePolicy
from passgate.storage.counters import BlockRecord

T0 = 1_800_000_000.0
DB = "Username-Password-Authentication"


def test_the_default_mode_counts_per_identifier_and_ip() -> None:
    key = attempt_key(PER_IDENTIFIER_AND_IP, DB, "Alice@Example.com", "::ffff:203.0.113.7")
    assert key.label == "alice@example.com"
    assert key.ip == "203.0.113.7"
    assert key.connection == DB
    assert key.user_id is None
    assert key.key == f"{PER_IDENTIFIER_AND_IP}:{key.subject}:203.0.113.7"
    assert len(key.subject) == 32
    assert key == attempt_key(PER_IDENTIFIER_AND_IP, DB, " ALICE@EXAMPLE.COM ", "203.0.113.7")
    assert key != attempt_key(PER_IDENTIFIER_AND_IP, DB, "alice@example.com", "203.0.113.8")
    assert key != attempt_key(PER_IDENTIFIER_AND_IP, "other", "alice@example.com", "203.0.113.7")


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("jesse.ross@example.com", "je\u017fse.ross@example.com"),  # long s
        ("jesse.ross@example.com", "jes\u017fe.ross@example.com"),
        ("jesse.ross@example.com", "je\u00dfe.ross@example.com"),  # sharp s
        ("jesse.ross@example.com", "JE\u1e9eE.ROSS@EXAMPLE.COM"),  # capital sharp s
        ("office@example.com", "o\ufb03ce@example.com"),  # ffi ligature
        ("offset@example.com", "o\ufb00set@example.com"),  # ff ligature
        ("fluff@example.com", "\ufb02u\ufb00@example.com"),
        ("stop@example.com", "\ufb06op@example.com"),  # st ligature
        ("zoë@example.com", "zoe\u0308@example.com"),  # decomposed
        ("alice@example.com", "\uff41lice@example.com"),  # fullwidth a
        ("alice", "\u3000alice\u00a0"),  # ideographic and no-break spaces
    ],
)
def test_every_spelling_of_one_identifier_counts_on_one_key(one: str, other: str) -> None:
    """Letters only casefold() folds, compatibility forms and Unicode spaces name the
    same identifier: one counter, not one per spelling."""
    assert attempt_key(PER_IDENTIFIER_AND_IP, DB, one, "203.0.113.7") == attempt_key(
        PER_IDENTIFIER_AND_IP, DB, other, "203.0.113.7"
    )


def test_an_account_is_counted_once_whatever_identifier_names_it() -> None:
    """alice and alice@example.com are one account, so one counter; the label is the
    account's email."""
    by_name = attempt_key(PER_IDENTIFIER, DB, "alice", "203.0.113.7", user_id="auth0|1")
    by_email = attempt_key(
        PER_IDENTIFIER, DB, "Alice@Example.com", "2001:db8::1", user_id="auth0|1",
        shown_as="alice@example.com",
    )  # fmt: skip
    assert by_name.key == by_email.key
    assert by_email.label == "alice@example.com"
    assert by_email.user_id == "auth0|1"
    unknown = attempt_key(PER_IDENTIFIER, DB, "alice", "203.0.113.7")
    assert unknown.key != by_name.key
    assert attempt_key(PER_IDENTIFIER, DB, "x", "203.0.113.7", user_id="auth0|2").key != (
        by_name.key
    )


def test_per_identifier_mode_leaves_the_ip_out() -> None:
    key = attempt_key(PER_IDENTIFIER, DB, "alice", "203.0.113.7")
    assert key.ip is None
    assert key == attempt_key(PER_IDENTIFIER, DB, "ALICE", "2001:db8::1")
    assert key.key != attempt_key(PER_IDENTIFIER_AND_IP, DB, "alice", "203.0.113.7").key


def test_an_unknown_mode_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown brute-force mode"):
        attempt_key("count_per_ip", DB, "alice", "203.0.113.7")


@given(st.text(max_size=20), st.text(max_size=20), st.ip_addresses(), st.ip_addresses())
def test_distinct_identifier_ip_pairs_never_share_a_key(
    first: str, second: str, ip_one: object, ip_two: object
) -> None:
    one = attempt_key(PER_IDENTIFIER_AND_IP, DB, first, str(ip_one))
    two = attempt_key(PER_IDENTIFIER_AND_IP, DB, second, str(ip_two))
    same = (canonical_identifier(first), one.ip) == (canonical_identifier(second), two.ip)
    assert (one.key == two.key) == same


@given(st.text(max_size=40))
def test_the_canonical_form_is_a_fixed_point(text: str) -> None:
    once = canonical_identifier(text)
    assert canonical_identifier(once) == once


def test_blocked_at_the_threshold_for_30_days() -> None:
    assert not is_blocked(9, T0, T0, max_attempts=10)
    assert is_blocked(10, T0, T0, max_attempts=10)
    assert is_blocked(10, T0, T0 + BLOCK_SECONDS - 0.001, max_attempts=10)
    assert not is_blocked(10, T0, T0 + BLOCK_SECONDS, max_attempts=10)
    assert block_ends_at(T0) == T0 + BLOCK_SECONDS


def test_raising_the_threshold_lifts_blocks_and_lowering_it_adds_them() -> None:
    assert not is_blocked(10, T0, T0 + 1, max_attempts=11)
    assert is_blocked(5, T0, T0 + 1, max_attempts=3)


def test_old_failures_are_forgotten() -> None:
    assert effective_failures(4, T0, T0 + BLOCK_SECONDS - 1) == 4
    assert effective_failures(4, T0, T0 + BLOCK_SECONDS) == 0
    state = BlockState(failures=3, last_failure=T0)
    assert state.counted(T0) == 3
    assert state.blocked(T0, max_attempts=3)
    assert not BlockState().blocked(T0, max_attempts=1)


def test_protection_mode() -> None:
    ip = "203.0.113.7"
    assert protection_mode(BruteForcePolicy(), ip) is BruteForceMode.ENFORCE
    assert protection_mode(BruteForcePolicy(enabled=False), ip) is BruteForceMode.OFF
    assert protection_mode(BruteForcePolicy(shields=()), ip) is BruteForceMode.MONITOR
    notify_only = BruteForcePolicy(shields=("user_notification",))
    assert protection_mode(notify_only, ip) is BruteForceMode.MONITOR
    allowlisted = BruteForcePolicy(allowlist=("203.0.113.0/24",))
    assert protection_mode(allowlisted, ip) is BruteForceMode.OFF
    assert protection_mode(allowlisted, "198.51.100.1") is BruteForceMode.ENFORCE


def test_the_failure_that_reaches_the_threshold_starts_the_block() -> None:
    policy = BruteForcePolicy(max_attempts=3)
    assert failure_outcome(2, policy).starts_block is False
    started = failure_outcome(3, policy)
    assert started.starts_block
    assert started.blocks
    assert started.notify_user
    assert failure_outcome(4, policy).starts_block is False


def test_notifications_and_monitoring() -> None:
    quiet = failure_outcome(3, BruteForcePolicy(max_attempts=3, shields=("block",)))
    assert quiet.blocks
    assert not quiet.notify_user
    monitoring = failure_outcome(3, BruteForcePolicy(max_attempts=3, shields=()))
    assert monitoring.starts_block
    assert not monitoring.blocks
    assert not monitoring.notify_user


def test_visible_blocks_follow_the_mode_and_the_allowlist() -> None:
    records = [
        BlockRecord("alice", "203.0.113.7", DB, 10, T0),
        BlockRecord("alice", "10.1.1.1", DB, 10, T0),
        BlockRecord("alice", None, DB, 10, T0),
    ]
    policy = BruteForcePolicy(allowlist=("10.0.0.0/8",))
    assert visible_blocks(records, policy) == [records[0]]
    per_identifier = BruteForcePolicy(mode=PER_IDENTIFIER, allowlist=("10.0.0.0/8",))
    assert visible_blocks(records, per_identifier) == [records[2]]
