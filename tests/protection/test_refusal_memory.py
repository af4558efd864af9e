"""The guard remembers a refusal for a moment, so a flood that repeats it is refused on
the event loop without any I/O; the memory ends with its time, a policy change or a
release made in this process."""

from __future__ import annotations

import dataclasses

import pytest
import sqlalchemy as sa

from passgate.domain.brute_force import PER_IDENTIFIER_AND_IP, attempt_key
from passgate.domain.login import LoginAttempt, RequestContext
from passgate.domain.policy import BruteForcePolicy, SuspiciousIpPolicy
from passgate.errors import TooManyAttempts
from passgate.protection.guard import REFUSAL_MEMORY_S, ProtectionGuard
from passgate.storage.counters import AttemptKey
from passgate.storage.counters_sql import SqlCounters
from passgate.testing import CapturedEvents, ManualClock

DB = "Username-Password-Authentication"
IP = "203.0.113.7"


class Policies:
    def __init__(self) -> None:
        self.brute_force = BruteForcePolicy()
        self.suspicious_ip = SuspiciousIpPolicy(enabled=False)

    def get_brute_force(self) -> BruteForcePolicy:
        return self.brute_force

    def get_suspicious_ip(self) -> SuspiciousIpPolicy:
        return self.suspicious_ip


class Silent:
    def account_blocked(self, key: AttemptKey, attempt: LoginAttempt) -> None:
        return None

    def ip_throttled(self, ip: str, attempt: LoginAttempt) -> None:
        return None


@dataclasses.dataclass
class Guarded:
    guard: ProtectionGuard
    clock: ManualClock
    policies: Policies
    attempt: LoginAttempt


@pytest.fixture
def blocked(engine: sa.Engine) -> Guarded:
    """A guard whose backend holds a block of alice from IP, refused once by ``admit``."""
    clock = ManualClock()
    counters = SqlCounters(engine)
    policies = Policies()
    guard = ProtectionGuard(
        counters=counters,
        policies=policies,
        events=CapturedEvents(),
        notifier=Silent(),
        clock=clock,
    )
    attempt = LoginAttempt("alice", DB, RequestContext(ip=IP, client_ip=IP))
    key = attempt_key(PER_IDENTIFIER_AND_IP, DB, "alice", IP)
    for _ in range(policies.brute_force.max_attempts):
        counters.record_failure(key, now=clock(), release=False)
    assert guard.refuse_early(attempt) is None  # nothing remembered yet
    with pytest.raises(TooManyAttempts):
        guard.admit(attempt)
    return Guarded(guard, clock, policies, attempt)


def test_a_refusal_is_answered_from_memory_then_forgotten_after_its_time(
    blocked: Guarded,
) -> None:
    assert isinstance(blocked.guard.refuse_early(blocked.attempt), TooManyAttempts)
    other_spelling = dataclasses.replace(blocked.attempt, identifier=" ALICE ")
    assert isinstance(blocked.guard.refuse_early(other_spelling), TooManyAttempts)
    blocked.clock.advance(REFUSAL_MEMORY_S)
    assert blocked.guard.refuse_early(blocked.attempt) is None


def test_a_policy_change_forgets_the_refusals_decided_under_the_old_one(
    blocked: Guarded,
) -> None:
    blocked.policies.brute_force = BruteForcePolicy(max_attempts=20)
    assert blocked.guard.refuse_early(blocked.attempt) is None


def test_a_release_in_this_process_forgets_them_at_once(blocked: Guarded) -> None:
    blocked.guard.forget_refusals()
    assert blocked.guard.refuse_early(blocked.attempt) is None
