"""Policies in the Management API's shapes, their defaults, validation and PATCH."""

from __future__ import annotations

from typing import Any

import pytest

from passgate.domain.policy import (
    BreachedPasswordPolicy,
    BruteForcePolicy,
    PolicyError,
    SuspiciousIpPolicy,
    ThrottleStage,
    merge_patch,
)

# --- defaults are SPEC's documents ---------------------------------------------------


def test_brute_force_defaults() -> None:
    assert BruteForcePolicy().to_json() == {
        "enabled": True,
        "shields": ["block", "user_notification"],
        "allowlist": [],
        "mode": "count_per_identifier_and_ip",
        "max_attempts": 10,
    }


def test_suspicious_ip_defaults() -> None:
    assert SuspiciousIpPolicy().to_json() == {
        "enabled": True,
        "shields": ["admin_notification", "block"],
        "allowlist": [],
        "stage": {
            "pre-login": {"max_attempts": 100, "rate": 864000},
            "pre-user-registration": {"max_attempts": 50, "rate": 1200},
        },
    }


def test_breached_password_defaults() -> None:
    assert BreachedPasswordPolicy().to_json() == {
        "enabled": True,
        "shields": ["block", "user_notification", "admin_notification"],
        "admin_notification_frequency": ["immediately"],
        "method": "standard",
        "stage": {
            "pre-user-registration": {"shields": ["block"]},
            "pre-change-password": {"shields": ["block"]},
        },
    }


@pytest.mark.parametrize(
    "policy",
    [
        BruteForcePolicy(
            enabled=False, shields=(), allowlist=("10.0.0.0/8", "2001:db8::1"), max_attempts=1
        ),
        SuspiciousIpPolicy(
            shields=("block",),
            pre_login=ThrottleStage(2500, 34560),
            pre_user_registration=ThrottleStage(72000, 86400000),
        ),
        BreachedPasswordPolicy(
            admin_notification_frequency=("daily", "weekly"),
            pre_user_registration_shields=(),
            pre_change_password_shields=("admin_notification", "block"),
        ),
    ],
)
def test_json_round_trip(
    policy: BruteForcePolicy | SuspiciousIpPolicy | BreachedPasswordPolicy,
) -> None:
    assert type(policy).from_json(policy.to_json()) == policy


def test_missing_fields_take_their_defaults() -> None:
    assert BruteForcePolicy.from_json({}) == BruteForcePolicy()
    partial = SuspiciousIpPolicy.from_json({"stage": {"pre-login": {"rate": 40000}}})
    assert partial.pre_login == ThrottleStage(100, 40000)
    assert partial.pre_user_registration == ThrottleStage(50, 1200)


def test_duplicate_shields_are_dropped() -> None:
    assert BruteForcePolicy(shields=("block", "block")).shields == ("block",)


def test_the_allowlist_is_parsed_once_and_used() -> None:
    policy = BruteForcePolicy(allowlist=(" 192.0.2.0/24 ",))
    assert policy.allowlist == ("192.0.2.0/24",)
    assert policy.ip_allowlist.contains("192.0.2.200")


# --- validation names the field -------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"max_attempts": 0}, r"max_attempts: must be between 1 and 100, not 0"),
        ({"max_attempts": 101}, r"max_attempts: must be between 1 and 100"),
        ({"max_attempts": "10"}, r"max_attempts: must be an integer"),
        ({"max_attempts": True}, r"max_attempts: must be an integer"),
        ({"max_attempts": 10.5}, r"max_attempts: must be an integer"),
        ({"enabled": "yes"}, r"enabled: must be true or false"),
        ({"shields": "block"}, r"shields: must be an array"),
        ({"shields": ["block", "admin_notification"]}, r"shields\[1\]: must be one of"),
        ({"mode": "count_per_ip"}, r"mode: must be one of"),
        ({"allowlist": ["10.0.0.0/8", "bad"]}, r"allowlist\[1\]: 'bad' is not an IP"),
        ({"allowlist": [7]}, r"allowlist\[0\]"),
        ({"allowlist": ["10.0.0.1/8"]}, r"allowlist\[0\]: .*host bits"),
        ({"lockout": True}, r"lockout: unknown field"),
    ],
)
def test_brute_force_refusals(document: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        BruteForcePolicy.from_json(document)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"stage": {"pre-login": {"max_attempts": 2501}}}, r"stage\.pre-login\.max_attempts"),
        ({"stage": {"pre-login": {"rate": 34559}}}, r"stage\.pre-login\.rate: .*34560"),
        ({"stage": {"pre-login": {"rate": 86400001}}}, r"stage\.pre-login\.rate"),
        (
            {"stage": {"pre-user-registration": {"max_attempts": 72001}}},
            r"stage\.pre-user-registration\.max_attempts",
        ),
        (
            {"stage": {"pre-user-registration": {"rate": 1199}}},
            r"stage\.pre-user-registration\.rate",
        ),
        ({"stage": {"pre-signup": {}}}, r"stage\.pre-signup: unknown field"),
        ({"stage": {"pre-login": {"burst": 1}}}, r"stage\.pre-login\.burst: unknown field"),
        ({"stage": []}, r"stage: must be an object"),
        ({"shields": ["user_notification"]}, r"shields\[0\]"),
    ],
)
def test_suspicious_ip_refusals(document: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        SuspiciousIpPolicy.from_json(document)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"method": "enhanced"}, r"method: only 'standard' is supported"),
        ({"admin_notification_frequency": ["hourly"]}, r"admin_notification_frequency\[0\]"),
        (
            {"stage": {"pre-change-password": {"shields": ["user_notification"]}}},
            r"stage\.pre-change-password\.shields\[0\]",
        ),
        ({"stage": {"pre-user-registration": {"mode": 1}}}, r"pre-user-registration\.mode"),
    ],
)
def test_breached_password_refusals(document: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        BreachedPasswordPolicy.from_json(document)


def test_policy_errors_are_value_errors() -> None:
    assert issubclass(PolicyError, ValueError)
    with pytest.raises(ValueError, match="max_attempts"):
        BruteForcePolicy(max_attempts=1000)


# --- PATCH ----------------------------------------------------------------------------


def test_patch_changes_only_the_given_fields() -> None:
    patched = merge_patch(BruteForcePolicy(), {"max_attempts": 5, "shields": ["block"]})
    assert patched == BruteForcePolicy(max_attempts=5, shields=("block",))


def test_patch_merges_stages_field_by_field() -> None:
    current = SuspiciousIpPolicy(pre_login=ThrottleStage(10, 60000))
    patched = merge_patch(current, {"stage": {"pre-login": {"max_attempts": 20}}})
    assert patched.pre_login == ThrottleStage(20, 60000)
    assert patched.pre_user_registration == current.pre_user_registration
    breached = merge_patch(
        BreachedPasswordPolicy(), {"stage": {"pre-change-password": {"shields": []}}}
    )
    assert breached.pre_change_password_shields == ()
    assert breached.pre_user_registration_shields == ("block",)


def test_arrays_are_replaced_whole() -> None:
    current = BruteForcePolicy(allowlist=("10.0.0.0/8",))
    assert merge_patch(current, {"allowlist": ["192.0.2.1"]}).allowlist == ("192.0.2.1",)
    assert merge_patch(current, {"allowlist": []}).allowlist == ()


def test_an_empty_patch_changes_nothing() -> None:
    current = BruteForcePolicy(max_attempts=3)
    assert merge_patch(current, {}) == current


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"max_attempts": 5, "mode": "sometimes"}, r"^mode: must be one of"),
        ({"max_attempts": None}, r"^max_attempts: must not be null"),
        ({"unknown": 1}, r"^unknown: unknown field"),
        ([1, 2], r"^body: must be an object"),
        ("max_attempts=3", r"^body: must be an object"),
    ],
)
def test_a_refused_patch_names_the_field_and_changes_nothing(patch: Any, message: str) -> None:
    current = BruteForcePolicy(max_attempts=7)
    before = current.to_json()
    with pytest.raises(PolicyError, match=message):
        merge_patch(current, patch)
    assert current.to_json() == before


def test_a_null_inside_a_stage_is_refused() -> None:
    current = SuspiciousIpPolicy()
    with pytest.raises(PolicyError, match=r"^stage\.pre-login\.rate: must not be null"):
        merge_patch(current, {"stage": {"pre-login": {"rate": None}}})
    assert current == SuspiciousIpPolicy()


def test_a_patch_with_a_bad_ip_is_refused() -> None:
    with pytest.raises(PolicyError, match=r"allowlist\[1\]: '300\.1\.1\.1'"):
        merge_patch(SuspiciousIpPolicy(), {"allowlist": ["10.0.0.0/8", "300.1.1.1"]})
