"""Token buckets as GCRA: capacity, refill schedule, and never more than allowed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passgate.domain.ip_throttle import (
    PRE_LOGIN,
    PRE_USER_REGISTRATION,
    ThrottleMode,
    after_consume,
    has_token,
    rate_seconds,
    remaining_tokens,
    retry_after,
    stage_settings,
    throttle_mode,
)
from passgate.domain.policy import SuspiciousIpPolicy
from passgate.storage.counters import GCRA_TOLERANCE_S

T0 = 1_800_000_000.5


def take(tat: float | None, now: float, capacity: int, rate_s: float) -> tuple[bool, float | None]:
    allowed = has_token(tat, now, capacity, rate_s)
    return allowed, after_consume(tat, now, capacity, rate_s)


def test_a_new_bucket_is_full() -> None:
    assert has_token(None, T0, 3, 10.0)
    assert remaining_tokens(None, T0, 3, 10.0) == 3
    assert retry_after(None, T0, 3, 10.0) == 0.0


def test_capacity_tokens_then_one_per_rate() -> None:
    tat: float | None = None
    results = []
    for _ in range(4):
        allowed, tat = take(tat, T0, 3, 10.0)
        results.append(allowed)
    assert results == [True, True, True, False]
    assert tat == pytest.approx(T0 + 30.0)
    assert remaining_tokens(tat, T0, 3, 10.0) == 0
    assert retry_after(tat, T0, 3, 10.0) == pytest.approx(10.0, abs=0.01)
    assert not has_token(tat, T0 + 9.9, 3, 10.0)
    assert has_token(tat, T0 + 10.0, 3, 10.0)
    assert remaining_tokens(tat, T0 + 25.0, 3, 10.0) == 2
    assert remaining_tokens(tat, T0 + 1000.0, 3, 10.0) == 3


def test_an_empty_bucket_is_not_pushed_further() -> None:
    tat = T0 + 30.0
    assert after_consume(tat, T0, 3, 10.0) == tat


def test_a_lowered_capacity_drains_before_allowing_again() -> None:
    tat = T0 + 100.0  # empty under capacity 10, rate 10
    assert not has_token(tat, T0, 2, 10.0)
    assert has_token(tat, T0 + 90.0, 2, 10.0)


def test_policy_rates_are_milliseconds() -> None:
    assert rate_seconds(864000) == 864.0


def test_throttle_mode_and_stages() -> None:
    policy = SuspiciousIpPolicy(allowlist=("192.0.2.0/24",))
    assert throttle_mode(policy, "203.0.113.1") is ThrottleMode.ENFORCE
    assert throttle_mode(policy, "192.0.2.9") is ThrottleMode.OFF
    assert throttle_mode(SuspiciousIpPolicy(enabled=False), "1.1.1.1") is ThrottleMode.OFF
    monitoring = SuspiciousIpPolicy(shields=("admin_notification",))
    assert throttle_mode(monitoring, "1.1.1.1") is ThrottleMode.MONITOR
    assert stage_settings(policy, PRE_LOGIN).max_attempts == 100
    assert stage_settings(policy, PRE_USER_REGISTRATION).rate == 1200
    with pytest.raises(ValueError, match="unknown throttling stage"):
        stage_settings(policy, "pre-breakfast")


@given(
    capacity=st.integers(1, 20),
    rate_s=st.sampled_from([1.2, 34.56, 864.0, 0.5]),
    gaps=st.lists(st.floats(0, 200, allow_nan=False), min_size=1, max_size=80),
)
def test_no_window_allows_more_than_capacity_plus_refills(
    capacity: int, rate_s: float, gaps: list[float]
) -> None:
    """In any window [a, b], at most capacity + (b - a) / rate_s requests get a token."""
    tat: float | None = None
    now = T0
    granted: list[float] = []
    for gap in gaps:
        now += gap
        allowed, tat = take(tat, now, capacity, rate_s)
        if allowed:
            granted.append(now)
        assert tat is None or tat <= now + capacity * rate_s + 1e-6
    for i, start in enumerate(granted):
        for j in range(i, len(granted)):
            window = granted[j] - start
            assert j - i + 1 <= capacity + (window + GCRA_TOLERANCE_S) / rate_s + 1e-9


@given(
    capacity=st.integers(1, 50),
    rate_s=st.sampled_from([1.2, 34.56, 864.0]),
    gaps=st.lists(st.floats(0, 3000, allow_nan=False), max_size=60),
)
def test_a_patient_client_is_never_refused(capacity: int, rate_s: float, gaps: list[float]) -> None:
    """Requests spaced at least rate_s apart always get a token."""
    tat: float | None = None
    now = T0
    for gap in gaps:
        now += max(gap, rate_s)
        allowed, tat = take(tat, now, capacity, rate_s)
        assert allowed


@given(capacity=st.integers(1, 2500), rate_s=st.sampled_from([34.56, 864.0, 86400.0]))
def test_exactly_capacity_tokens_at_one_instant(capacity: int, rate_s: float) -> None:
    tat: float | None = None
    for _ in range(capacity):
        allowed, tat = take(tat, T0, capacity, rate_s)
        assert allowed
    assert not has_token(tat, T0, capacity, rate_s)
    assert retry_after(tat, T0, capacity, rate_s) == pytest.approx(rate_s, abs=0.01)
