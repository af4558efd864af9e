"""``GET/PATCH /api/v2/attack-protection/…``: Auth0's shapes, the CLI's validation, atomic
changes, and a new threshold enforced on the next login."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from passgate.domain.policy import BreachedPasswordPolicy, BruteForcePolicy, SuspiciousIpPolicy
from tests.management.helpers import Admin, assert_api_error, cli_for
from tests.protection_e2e.helpers import APP_SERVER_IP, BASE_URL, IP_A, PASSWORD, WRONG

pytestmark = pytest.mark.anyio

BRUTE = "/attack-protection/brute-force-protection"
THROTTLING = "/attack-protection/suspicious-ip-throttling"
BREACHED = "/attack-protection/breached-password-detection"


async def test_get_answers_the_defaults_in_auth0s_shapes(admin: Admin) -> None:
    for path, policy in (
        (BRUTE, BruteForcePolicy()),
        (THROTTLING, SuspiciousIpPolicy()),
        (BREACHED, BreachedPasswordPolicy()),
    ):
        response = await admin.call("GET", path)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        assert response.json() == policy.to_json()
    assert (await admin.call("GET", BRUTE)).json() == {
        "enabled": True,
        "shields": ["block", "user_notification"],
        "allowlist": [],
        "mode": "count_per_identifier_and_ip",
        "max_attempts": 10,
    }


async def test_patch_merges_objects_replaces_arrays_and_answers_the_result(admin: Admin) -> None:
    response = await admin.call(
        "PATCH",
        THROTTLING,
        json={"allowlist": ["10.0.0.0/8"], "stage": {"pre-login": {"rate": 60000}}},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["allowlist"] == ["10.0.0.0/8"]
    assert body["stage"] == {
        "pre-login": {"max_attempts": 100, "rate": 60000},
        "pre-user-registration": {"max_attempts": 50, "rate": 1200},
    }
    assert (await admin.call("GET", THROTTLING)).json() == body
    response = await admin.call(
        "PATCH",
        BREACHED,
        json={"shields": ["block"], "stage": {"pre-change-password": {"shields": []}}},
    )
    assert response.json()["stage"] == {
        "pre-user-registration": {"shields": ["block"]},
        "pre-change-password": {"shields": []},
    }
    assert response.json()["shields"] == ["block"]
    assert admin.stack.passgate.policies.get_breached_password().pre_change_password_shields == ()


async def test_a_patch_writes_sapi_naming_the_client_and_each_changed_field(admin: Admin) -> None:
    admin.stack.events.clear()
    await admin.call(
        "PATCH", THROTTLING, json={"enabled": True, "stage": {"pre-login": {"max_attempts": 5}}}
    )
    [event] = admin.stack.events.of_type("sapi")
    assert event.client_id == admin.client.id
    assert event.client_name == "Admin tool"
    assert event.description == "Update Suspicious IP Throttling settings"
    assert event.details["request"] == {
        "method": "patch",
        "path": "/api/v2/attack-protection/suspicious-ip-throttling",
        "query": {},
    }
    assert event.details["response"] == {"statusCode": 200}
    # "enabled" was true already: only what changed is named.
    assert event.details["changes"] == {"stage.pre-login.max_attempts": 5}
    text = json.dumps(event.to_json())
    assert admin.token not in text
    assert admin.client.secret is not None
    assert admin.client.secret not in text
    # An empty patch changes nothing and says so.
    admin.stack.events.clear()
    response = await admin.call("PATCH", BRUTE, json={})
    assert response.json() == BruteForcePolicy().to_json()
    [event] = admin.stack.events.of_type("sapi")
    assert event.details["changes"] == {}
    # Reading writes no event.
    admin.stack.events.clear()
    await admin.call("GET", BRUTE)
    assert admin.stack.events.of_type("sapi", "fapi") == []


#: (path, patch, the field named, what is wrong: None when only the field is checked)
REFUSED: list[tuple[str, Any, str, str | None]] = [
    (BRUTE, {"max_attempts": 0}, "max_attempts", "must be between 1 and 100, not 0"),
    (BRUTE, {"max_attempts": 101}, "max_attempts", "must be between 1 and 100, not 101"),
    (BRUTE, {"max_attempts": "5"}, "max_attempts", "must be an integer"),
    (BRUTE, {"max_attempts": 5.0}, "max_attempts", "must be an integer"),
    (BRUTE, {"max_attempts": True}, "max_attempts", "must be an integer"),
    (BRUTE, {"max_attempts": None}, "max_attempts", "must not be null"),
    (BRUTE, {"enabled": "true"}, "enabled", "must be true or false"),
    (BRUTE, {"shields": "block"}, "shields", "must be an array"),
    (BRUTE, {"shields": ["admin_notification"]}, "shields[0]",
     "must be one of block, user_notification, not 'admin_notification'"),
    (BRUTE, {"mode": "COUNT_PER_IDENTIFIER"}, "mode", None),
    (BRUTE, {"allowlist": ["10.0.0.1/8"]}, "allowlist[0]",
     "'10.0.0.1/8' has host bits set; did you mean '10.0.0.0/8'?"),
    (BRUTE, {"allowlist": ["fe80::1%eth0"]}, "allowlist[0]", None),
    (BRUTE, {"allowlist": [7]}, "allowlist[0]", None),
    (BRUTE, {"max_attemps": 5}, "max_attemps",
     "unknown field (expected one of enabled, shields, allowlist, mode, max_attempts)"),
    (THROTTLING, {"stage": {"pre-login": {"rate": 34559}}}, "stage.pre-login.rate",
     "must be between 34560 and 86400000, not 34559"),
    (THROTTLING, {"stage": {"pre-user-registration": {"max_attempts": 72001}}},
     "stage.pre-user-registration.max_attempts", None),
    (THROTTLING, {"stage": {"pre-login": {"burst": 1}}}, "stage.pre-login.burst", None),
    (THROTTLING, {"stage": {"login": {}}}, "stage.login", None),
    (THROTTLING, {"stage": []}, "stage", "must be an object"),
    (BREACHED, {"method": "enhanced"}, "method", "only 'standard' is supported, not 'enhanced'"),
    (BREACHED, {"admin_notification_frequency": ["hourly"]},
     "admin_notification_frequency[0]", None),
    (BREACHED, {"stage": {"pre-change-password": {"shields": ["user_notification"]}}},
     "stage.pre-change-password.shields[0]", None),
]  # fmt: skip


@pytest.mark.parametrize(("path", "patch", "field", "problem"), REFUSED)
async def test_a_refused_field_is_a_400_naming_it_and_changes_nothing(
    admin: Admin, path: str, patch: Any, field: str, problem: str | None
) -> None:
    before = (await admin.call("GET", path)).json()
    admin.stack.events.clear()
    response = await admin.call("PATCH", path, json=patch)
    body = assert_api_error(response, 400, "invalid_body")
    assert body["error"] == "Bad Request"
    assert body["message"].startswith("Payload validation error: '")
    assert body["message"].endswith(f"' on property {field}."), body["message"]
    if problem is not None:
        assert body["message"] == f"Payload validation error: '{problem}' on property {field}."
    assert (await admin.call("GET", path)).json() == before
    [failed] = admin.stack.events.of_type("fapi")
    assert failed.details["response"] == {"statusCode": 400, "error": body["message"]}
    assert admin.stack.events.of_type("sapi") == []


async def test_the_cli_refuses_what_the_api_refuses_with_the_same_words(
    admin: Admin,
) -> None:
    """One validation: the CLI's --patch and the API's PATCH name the same problem."""
    cli = cli_for(admin)
    for path, section in ((BRUTE, "brute-force"), (THROTTLING, "suspicious-ip")):
        for patch in ({"max_attempts": 0}, {"stage": {"pre-login": {"rate": 1}}}):
            if (path == BRUTE) != ("max_attempts" in patch):
                continue
            api = (await admin.call("PATCH", path, json=patch)).json()["message"]
            message = cli.fails("protection", "set", section, "--patch", json.dumps(patch))
            problem = api.split("'")[1]
            assert problem in message


async def test_the_cli_and_the_api_change_the_same_policy(admin: Admin) -> None:
    cli = cli_for(admin)
    cli.json("protection", "set", "brute-force", "--max-attempts", "4")
    assert (await admin.call("GET", BRUTE)).json()["max_attempts"] == 4
    await admin.call("PATCH", BRUTE, json={"mode": "count_per_identifier"})
    shown = cli.json("protection", "show")["brute_force_protection"]
    assert shown["max_attempts"] == 4
    assert shown["mode"] == "count_per_identifier"


async def test_patches_of_different_fields_at_once_all_land(admin: Admin) -> None:
    patches = [
        {"enabled": False},
        {"shields": ["block"]},
        {"allowlist": ["192.0.2.0/24"]},
        {"mode": "count_per_identifier"},
        {"max_attempts": 7},
    ]
    answers = await asyncio.gather(*(admin.call("PATCH", BRUTE, json=p) for p in patches))
    assert all(answer.status_code == 200 for answer in answers)
    assert (await admin.call("GET", BRUTE)).json() == {
        "enabled": False,
        "shields": ["block"],
        "allowlist": ["192.0.2.0/24"],
        "mode": "count_per_identifier",
        "max_attempts": 7,
    }


async def test_a_lower_threshold_is_enforced_on_the_next_login(admin: Admin) -> None:
    stack = admin.stack
    response = await admin.call("PATCH", BRUTE, json={"max_attempts": 3})
    assert response.json()["max_attempts"] == 3
    for _ in range(3):
        failed = await stack.login(admin.http, "alice", WRONG, forwarded=IP_A)
        assert failed.status_code == 403, failed.text
    blocked = await stack.login(admin.http, "alice", PASSWORD, forwarded=IP_A)
    assert blocked.status_code == 429, blocked.text
    assert blocked.json()["error"] == "too_many_attempts"
    # Raising it above the count lifts the block at once (SPEC §3).
    await admin.call("PATCH", BRUTE, json={"max_attempts": 4})
    assert (await stack.login(admin.http, "alice", PASSWORD, forwarded=IP_A)).status_code == 200


async def test_another_instance_enforces_the_change(admin: Admin, make_instance: Any) -> None:
    await admin.call("PATCH", BRUTE, json={"max_attempts": 2})
    other = make_instance(admin.stack)
    stack = admin.stack
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=other, client=(APP_SERVER_IP, 1234)), base_url=BASE_URL
    ) as http:
        for _ in range(2):
            await stack.login(http, "alice", WRONG, forwarded=IP_A)
        assert (await stack.login(http, "alice", PASSWORD, forwarded=IP_A)).status_code == 429
