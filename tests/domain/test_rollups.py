"""What the dashboard counts (``domain/rollups``) and when a threat's threshold is
crossed (``domain/security_alerts``)."""

from __future__ import annotations

import json

import pytest

from passgate.domain.policy import PolicyError
from passgate.domain.rollups import WINDOWS, Tally, account_key, classify, hour_of
from passgate.domain.security_alerts import AlertPolicy, crossings, patch

WRONG = {"error": {"error": "invalid_grant", "message": "Wrong email or password."}}
BLOCKED = {"error": {"error": "too_many_attempts", "message": "blocked"}}


@pytest.mark.parametrize(
    ("kind", "details", "series"),
    [
        ("sepft", None, "logins"),
        ("s", None, "logins"),
        ("fp", None, "failed_logins"),
        ("fu", None, "failed_logins"),
        ("fepft", json.dumps(WRONG), "failed_logins"),
        ("fepft", WRONG, "failed_logins"),
        ("fepft", json.dumps(BLOCKED), None),
        ("fepft", json.dumps({"error": {"error": "invalid_client"}}), None),
        ("fepft", "{}", None),
        ("fepft", None, None),
        ("fepft", "not json but invalid_grant", None),
        ("limit_wc", None, "brute_force_blocks"),
        ("limit_mu", None, "ip_throttles"),
        ("pwd_leak", None, "breached_passwords"),
        ("signup_pwd_leak", None, "breached_passwords"),
        ("reset_pwd_leak", None, "breached_passwords"),
        ("ss", None, "signups"),
        ("fs", None, None),
        ("sapi", None, None),
        ("limit_sul", None, None),
    ],
)
def test_each_event_type_falls_into_one_series_or_none(
    kind: str, details: object, series: str | None
) -> None:
    assert classify(kind, details) == series  # type: ignore[arg-type]


def test_an_accounts_spellings_count_as_one() -> None:
    assert account_key("Alice@Example.COM ", None) == account_key("alice@example.com", None)
    assert account_key(None, "auth0|1") == "auth0|1"
    assert account_key("", None) is None
    assert len(account_key("a" * 1000, None) or "") == 320


def test_a_tally_counts_by_hour_ip_and_account() -> None:
    tally = Tally()
    base = 1_800_000_000.0
    for n in range(3):
        tally.add(kind="fepft", date=base + n, ip="192.0.2.1", user_name=f"u{n}",
                  user_id=None, details=WRONG)  # fmt: skip
    tally.add(kind="limit_mu", date=base, ip="192.0.2.1", user_name="u0", user_id=None,
              details=None)  # fmt: skip
    tally.add(kind="fs", date=base + 3600, ip="192.0.2.2", user_name="x", user_id=None,
              details=None)  # fmt: skip
    tally.add(kind="sapi", date=base, ip="192.0.2.3", user_name=None, user_id=None, details=None)
    hour = hour_of(base)
    assert tally.events == 6
    assert tally.metrics[hour, "failed_logins"] == 3
    assert tally.metrics[hour, "ip_throttles"] == 1
    assert tally.metrics[hour + 1, "signup_attempts"] == 1
    assert (hour + 1, "signups") not in tally.metrics
    assert tally.ips[hour, "192.0.2.1"] == {"failed_logins": 3, "blocks": 1}
    assert tally.ips[hour + 1, "192.0.2.2"] == {"signups": 1}
    # an IP throttle is about the IP, not the account named in its request
    assert tally.accounts[hour, "u0"] == {"failed_logins": 1}
    assert (hour, "192.0.2.3") not in tally.ips
    assert tally.hours() == {hour, hour + 1}


def test_windows_end_with_the_bucket_holding_now() -> None:
    now = 1_800_000_000.0 + 1800  # half past an hour
    day = WINDOWS["24h"].starts(now)
    assert len(day) == 24
    assert day[-1] == hour_of(now)
    assert day[0] == hour_of(now) - 23
    week = WINDOWS["7d"].starts(now)
    assert len(week) == 7
    assert all(start % 24 == 0 for start in week)
    assert week[-1] <= hour_of(now) < week[-1] + 24
    assert len(WINDOWS["30d"].starts(now)) == 30


def test_the_policy_round_trips_and_refuses_bad_fields() -> None:
    policy = AlertPolicy()
    assert AlertPolicy.from_json(policy.to_json()) == policy
    assert policy.to_json()["credential_stuffing"] == {
        "enabled": True,
        "failed_logins_per_hour": 100,
        "min_accounts": 10,
    }
    changed = patch(policy, {"credential_stuffing": {"min_accounts": 3}})
    assert changed.threshold("credential_stuffing") == {
        "failed_logins_per_hour": 100,
        "min_accounts": 3,
    }
    for body, field in [
        ({"credential_stuffing": {"min_accounts": 0}}, "credential_stuffing.min_accounts"),
        ({"credential_stuffing": {"min_accounts": True}}, "credential_stuffing.min_accounts"),
        ({"credential_stuffing": {"min_accounts": 10_000_001}}, "credential_stuffing.min"),
        ({"credential_stuffing": {"min_accounts": None}}, "credential_stuffing.min_accounts"),
        ({"signup_attack": {"per_hour": 1}}, "signup_attack.per_hour"),
        ({"enabled": "yes"}, "enabled"),
        ({"enabled": None}, "enabled"),
        ({"nope": 1}, "nope"),
        ({"webhook_url": "ftp://example.com/"}, "webhook_url"),
        ({"webhook_url": "https://user:pw@example.com/"}, "webhook_url"),
        ({"webhook_url": "https://example.com/a b"}, "webhook_url"),
        ({"webhook_url": "https://example.com:99999/"}, "webhook_url"),
        ({"webhook_url": "https://"}, "webhook_url"),
        ({"webhook_url": "https://example.com/" + "a" * 2048}, "webhook_url"),
        ({"webhook_url": 5}, "webhook_url"),
        ([], "body"),
    ]:
        with pytest.raises(PolicyError) as refused:
            patch(policy, body)
        assert str(refused.value).startswith(field), (body, str(refused.value))
    hooked = patch(policy, {"webhook_url": "https://hooks.example/alerts?token=x"})
    assert hooked.webhook_url == "https://hooks.example/alerts?token=x"
    assert patch(hooked, {"webhook_url": None}).webhook_url is None


def test_a_threat_is_crossed_when_every_threshold_is_reached() -> None:
    policy = patch(AlertPolicy(), {"credential_stuffing": {"failed_logins_per_hour": 10,
                                                           "min_accounts": 5}})  # fmt: skip
    hourly = {
        (1, "failed_logins"): 50, (1, "failed_accounts"): 1,  # one account: brute force
        (2, "failed_logins"): 10, (2, "failed_accounts"): 5,
        (3, "signup_attempts"): 100, (3, "breached_passwords"): 9,
    }  # fmt: skip
    found = crossings(policy, hourly, [1, 2, 3])
    assert [(c.kind, c.hour) for c in found] == [
        ("credential_stuffing", 2),
        ("signup_attack", 3),
    ]
    assert found[0].counts == {"failed_logins": 10, "failed_accounts": 5}
    assert found[0].threshold == {"failed_logins_per_hour": 10, "min_accounts": 5}
    assert crossings(patch(policy, {"enabled": False}), hourly, [1, 2, 3]) == []
    off = patch(policy, {"signup_attack": {"enabled": False}})
    assert [c.kind for c in crossings(off, hourly, [1, 2, 3])] == ["credential_stuffing"]
