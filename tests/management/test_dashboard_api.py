"""``GET /api/v2/passgate/dashboard``: a scripted attack through the token endpoint shows
in the series, the top IPs, the most-targeted accounts and the threat panel, served from
the aggregates; ``GET/PATCH /api/v2/passgate/security-alerts``: the thresholds."""

from __future__ import annotations

from typing import Any

import pytest

from passgate.domain.rollups import SERIES
from tests.management.helpers import Admin, api_events, assert_api_error
from tests.protection_e2e.helpers import IP_A, IP_B, PASSWORD, WRONG, Stack

pytestmark = pytest.mark.anyio

ATTACKER = "203.0.113.66"


def persist(stack: Stack) -> None:
    """Write what was emitted to the event log (the buffered sink's job in a server)."""
    stack.passgate.event_log.append(stack.events.events)
    stack.events.clear()


async def attack(admin: Admin, *, accounts: int = 12, per_account: int = 1) -> None:
    """Wrong passwords for many accounts from :data:`ATTACKER` (forwarded by the trusted
    application), and two good logins of alice from other IPs; then the rollup."""
    stack = admin.stack
    async with stack.http() as http:
        for round_ in range(per_account):
            for n in range(accounts):
                answer = await stack.login(
                    http, f"victim{n}@example.com", f"{WRONG}{round_}", forwarded=ATTACKER
                )
                assert answer.status_code in (403, 429), answer.text
        for ip in (IP_A, IP_B):
            answer = await stack.login(http, "alice@example.com", PASSWORD, forwarded=ip)
            assert answer.status_code == 200, answer.text
    persist(stack)
    stack.passgate.alerts.tick()


async def dashboard(admin: Admin, **params: str) -> dict[str, Any]:
    response = await admin.call("GET", "/passgate/dashboard", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


async def test_an_attack_shows_on_the_dashboard(admin: Admin) -> None:
    await attack(admin)
    body = await dashboard(admin)
    assert body["window"] == "24h"
    assert body["bucket"] == "hour"
    assert len(body["series"]) == 24
    last = body["series"][-1]
    assert last["failed_logins"] == 12
    assert last["logins"] == 2
    assert body["totals"] == {**dict.fromkeys(SERIES, 0), "failed_logins": 12, "logins": 2}
    assert body["top_ips"][0] == {
        "ip": ATTACKER, "failed_logins": 12, "signups": 0, "blocks": 0, "breached": 0,
        "total": 12,
    }  # fmt: skip
    # good logins are no attack: alice's IPs are not listed, alice is not targeted
    assert [row["ip"] for row in body["top_ips"]] == [ATTACKER]
    accounts = body["top_accounts"]
    assert len(accounts) == 10  # the top ten of twelve, each tried once
    assert all(row["account"].startswith("victim") for row in accounts)
    assert all(row["failed_logins"] == 1 for row in accounts)
    assert body["rollup"]["pending_events"] == 0
    stuffing = {t["kind"]: t for t in body["threats"]}["credential_stuffing"]
    assert stuffing["detected"] is False  # 12 failures: under the default 100
    assert stuffing["peak"]["failed_logins"] == 12
    assert stuffing["peak"]["failed_accounts"] == 12
    assert stuffing["threshold"] == {"failed_logins_per_hour": 100, "min_accounts": 10}


async def test_the_threat_panel_names_the_threshold_that_set_it_off(admin: Admin) -> None:
    response = await admin.call(
        "PATCH",
        "/passgate/security-alerts",
        json={"credential_stuffing": {"failed_logins_per_hour": 10, "min_accounts": 5}},
    )
    assert response.status_code == 200, response.text
    await attack(admin)
    body = await dashboard(admin, window="7d")
    assert body["bucket"] == "day"
    assert len(body["series"]) == 7
    threats = {t["kind"]: t for t in body["threats"]}
    stuffing = threats["credential_stuffing"]
    assert stuffing["detected"] is True
    assert stuffing["active"] is True
    assert stuffing["hours"] == 1
    assert stuffing["threshold"] == {"failed_logins_per_hour": 10, "min_accounts": 5}
    assert "12 failed logins against 12 accounts" in stuffing["description"]
    assert threats["signup_attack"]["detected"] is False
    assert [alert["kind"] for alert in body["alerts"]] == ["credential_stuffing"]
    top = body["top_accounts"][0]
    assert top["failed_logins"] == 1
    assert top["account"].startswith("victim")


async def test_the_30_day_window_sums_days(admin: Admin) -> None:
    await attack(admin, accounts=3, per_account=2)
    body = await dashboard(admin, window="30d")
    assert len(body["series"]) == 30
    assert body["totals"]["failed_logins"] == 6
    assert body["top_accounts"][0]["failed_logins"] == 2


@pytest.mark.parametrize("window", ["1h", "24H", "", "7d ", "30 d", "9" * 8])
async def test_an_unknown_window_is_refused(admin: Admin, window: str) -> None:
    response = await admin.call("GET", "/passgate/dashboard", params={"window": window})
    assert_api_error(response, 400, "invalid_query_string")


async def test_a_repeated_or_unknown_parameter_is_refused(admin: Admin) -> None:
    response = await admin.call(
        "GET", "/passgate/dashboard", params=[("window", "24h"), ("window", "7d")]
    )
    assert_api_error(response, 400, "invalid_query_string")
    response = await admin.call("GET", "/passgate/dashboard", params={"since": "1h"})
    assert_api_error(response, 400, "invalid_query_string")


async def test_the_thresholds_are_read_and_patched(admin: Admin) -> None:
    response = await admin.call("GET", "/passgate/security-alerts")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "enabled": True,
        "credential_stuffing": {"enabled": True, "failed_logins_per_hour": 100,
                                "min_accounts": 10},
        "signup_attack": {"enabled": True, "signups_per_hour": 100},
        "breached_passwords": {"enabled": True, "hits_per_hour": 10},
        "webhook_url": None,
    }  # fmt: skip
    response = await admin.call(
        "PATCH",
        "/passgate/security-alerts",
        json={"signup_attack": {"signups_per_hour": 25}, "webhook_url": "https://h.example/x"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["signup_attack"] == {"enabled": True, "signups_per_hour": 25}
    assert response.json()["credential_stuffing"]["min_accounts"] == 10
    (audit,) = api_events(admin.stack, "sapi")
    assert audit.details["changes"] == {
        "signup_attack.signups_per_hour": 25,
        "webhook_url": "https://h.example/x",
    }
    again = await admin.call("GET", "/passgate/security-alerts")
    assert again.json()["webhook_url"] == "https://h.example/x"
    cleared = await admin.call("PATCH", "/passgate/security-alerts", json={"webhook_url": None})
    assert cleared.json()["webhook_url"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"signup_attack": {"signups_per_hour": 0}}, "signup_attack.signups_per_hour"),
        ({"signup_attack": {"signups_per_hour": "5"}}, "signup_attack.signups_per_hour"),
        ({"credential_stuffing": []}, "credential_stuffing"),
        ({"webhook_url": "javascript:alert(1)"}, "webhook_url"),
        ({"surprise": True}, "surprise"),
    ],
)
async def test_a_refused_threshold_changes_nothing(
    admin: Admin, body: dict[str, Any], field: str
) -> None:
    response = await admin.call("PATCH", "/passgate/security-alerts", json=body)
    error = assert_api_error(response, 400, "invalid_body")
    assert field in error["message"]
    assert (await admin.call("GET", "/passgate/security-alerts")).json()["signup_attack"] == {
        "enabled": True,
        "signups_per_hour": 100,
    }
    assert api_events(admin.stack, "sapi") == []
    (refusal,) = api_events(admin.stack, "fapi")
    assert refusal.details["response"]["statusCode"] == 400
