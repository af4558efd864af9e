"""``/api/v2/user-blocks``: blocks listed and released by any identifier of an account
(any spelling) or its user id, each release logged as ``ublkdu`` and ``sapi``."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from passgate.storage.directory import DEFAULT_CONNECTION
from tests.management.helpers import Admin, assert_api_error, cli_for
from tests.protection_e2e.helpers import IP_A, IP_B, PASSWORD, WRONG

pytestmark = pytest.mark.anyio

BRUTE = "/attack-protection/brute-force-protection"


async def _block_alice(admin: Admin, *ips: str, as_: str = "alice") -> None:
    await admin.call("PATCH", BRUTE, json={"max_attempts": 2})
    for ip in ips:
        for _ in range(2):
            answer = await admin.stack.login(admin.http, as_, WRONG, forwarded=ip)
            assert answer.status_code == 403, answer.text


async def _blocks(admin: Admin, identifier: str, **params: str) -> list[dict[str, str]]:
    response = await admin.call("GET", "/user-blocks", params={"identifier": identifier, **params})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"blocked_for"}
    blocked: list[dict[str, str]] = body["blocked_for"]
    return blocked


async def test_blocks_of_an_account_by_any_identifier_and_spelling(admin: Admin) -> None:
    await _block_alice(admin, IP_A, IP_B, as_="Alice@Example.COM")
    expected = [
        {"identifier": "alice@example.com", "ip": IP_A, "connection": DEFAULT_CONNECTION},
        {"identifier": "alice@example.com", "ip": IP_B, "connection": DEFAULT_CONNECTION},
    ]
    for spelling in (
        "alice",
        "ALICE",
        "\uff41\uff4c\uff49\uff43\uff45",  # fullwidth: the same after NFKC
        "alice@example.com",
        "ALICE@EXAMPLE.COM",
        " alice ",
        admin.stack.alice.id,
    ):
        assert await _blocks(admin, spelling) == expected, spelling
    assert await _blocks(admin, "bob") == []
    assert await _blocks(admin, "nobody@example.com") == []
    by_id = await admin.call("GET", f"/user-blocks/{quote(admin.stack.alice.id)}")
    assert by_id.json() == {"blocked_for": expected}


async def test_per_identifier_mode_lists_blocks_without_an_ip(admin: Admin) -> None:
    await admin.call("PATCH", BRUTE, json={"mode": "count_per_identifier", "max_attempts": 2})
    for ip in (IP_A, IP_B):
        await admin.stack.login(admin.http, "alice", WRONG, forwarded=ip)
    assert await _blocks(admin, "alice") == [
        {"identifier": "alice@example.com", "connection": DEFAULT_CONNECTION}
    ]


async def test_blocks_of_an_unknown_identifier_are_listed_and_released(admin: Admin) -> None:
    await _block_alice(admin, IP_A, as_="mallory")
    assert await _blocks(admin, "MALLORY") == [
        {"identifier": "mallory", "ip": IP_A, "connection": DEFAULT_CONNECTION}
    ]
    assert (
        await admin.call("DELETE", "/user-blocks", params={"identifier": "Mallory"})
    ).status_code == 204
    assert await _blocks(admin, "mallory") == []


async def test_consider_brute_force_enablement(admin: Admin) -> None:
    await _block_alice(admin, IP_A)
    await admin.call("PATCH", BRUTE, json={"shields": ["user_notification"]})
    assert len(await _blocks(admin, "alice")) == 1
    assert len(await _blocks(admin, "alice", consider_brute_force_enablement="false")) == 1
    assert await _blocks(admin, "alice", consider_brute_force_enablement="true") == []
    await admin.call("PATCH", BRUTE, json={"shields": ["block"], "allowlist": [IP_A]})
    assert await _blocks(admin, "alice") == []  # allowlisted IPs are never blocked


async def test_delete_by_identifier_releases_every_block_and_logs_it(admin: Admin) -> None:
    stack = admin.stack
    await _block_alice(admin, IP_A, IP_B)
    assert (await stack.login(admin.http, "alice", PASSWORD, forwarded=IP_A)).status_code == 429
    stack.events.clear()
    response = await admin.call(
        "DELETE", "/user-blocks", params={"identifier": "ALICE@example.com"}
    )
    assert response.status_code == 204
    assert response.content == b""
    assert all(name in response.headers for name in ("x-ratelimit-limit", "x-ratelimit-reset"))
    released = stack.events.of_type("ublkdu")
    assert sorted(event.ip or "" for event in released) == [IP_A, IP_B]
    for event in released:
        assert event.user_id == stack.alice.id
        assert event.user_name == "alice@example.com"
        assert event.client_id == admin.client.id
        assert event.client_name == "Admin tool"
        assert event.details == {"released_by": "administrator (management api)"}
    [sapi] = stack.events.of_type("sapi")
    assert sapi.description == "Unblock by identifier"
    assert sapi.details["request"]["query"] == {"identifier": "ALICE@example.com"}
    assert sapi.details["changes"] == {"released_blocks": 2, "reset_counters": 2}
    assert await _blocks(admin, "alice") == []
    assert (await stack.login(admin.http, "alice", PASSWORD, forwarded=IP_A)).status_code == 200
    # Nothing left: still 204, no ublkdu.
    stack.events.clear()
    response = await admin.call("DELETE", "/user-blocks", params={"identifier": "alice"})
    assert response.status_code == 204
    assert stack.events.of_type("ublkdu") == []
    [sapi] = stack.events.of_type("sapi")
    assert sapi.details["changes"] == {"released_blocks": 0, "reset_counters": 0}


async def test_delete_by_user_id(admin: Admin) -> None:
    stack = admin.stack
    await _block_alice(admin, IP_A)
    response = await admin.call("DELETE", f"/user-blocks/{quote(stack.alice.id)}")
    assert response.status_code == 204
    assert [event.ip for event in stack.events.of_type("ublkdu")] == [IP_A]
    assert await _blocks(admin, "alice") == []


async def test_an_unknown_user_id_is_404(admin: Admin) -> None:
    for method in ("GET", "DELETE"):
        admin.stack.events.clear()
        response = await admin.call(method, "/user-blocks/auth0%7Cnobody")
        assert_api_error(response, 404, "inexistent_user", "The user does not exist.")
        failed = admin.stack.events.of_type("fapi")
        assert len(failed) == (1 if method == "DELETE" else 0)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "Query validation error: 'Missing required property: identifier'."),
        ({"identifier": ""}, "Query validation error: 'String is too short (0 chars), minimum 1' "
         "on property identifier."),
        ({"identifier": "   "}, None),
        ({"identifier": "a" * 2049}, "Query validation error: 'String is too long (2049 chars), "
         "maximum 2048' on property identifier."),
        ({"identifier": "al\x00ice"}, "Query validation error: 'NUL characters are not allowed' "
         "on property identifier."),
        ({"identifier": "alice", "ip": IP_A}, "Query validation error: 'Additional properties not "
         "allowed: ip'."),
        ({"identifier": "alice", "consider_brute_force_enablement": "yes"}, None),
        ([("identifier", "alice"), ("identifier", "bob")], "Query validation error: 'Parameter "
         "given more than once' on property identifier."),
    ],
)  # fmt: skip
async def test_a_bad_query_is_400(admin: Admin, params: object, message: str | None) -> None:
    response = await admin.call("GET", "/user-blocks", params=params)
    body = assert_api_error(response, 400, "invalid_query_string", message)
    assert body["message"].startswith("Query validation error: ")


async def test_a_nul_in_the_user_id_is_400(admin: Admin) -> None:
    for method in ("GET", "DELETE"):
        response = await admin.call(method, "/user-blocks/auth0%7Cx%00y")
        assert_api_error(response, 400, "invalid_uri")


async def test_the_identifier_length_limit_is_inclusive(admin: Admin) -> None:
    assert await _blocks(admin, "a" * 2048) == []
    too_long = "a" * 2049
    response = await admin.call("DELETE", "/user-blocks", params={"identifier": too_long})
    assert_api_error(response, 400, "invalid_query_string")
    response = await admin.call("GET", "/user-blocks/" + "a" * 2049)
    assert_api_error(response, 400, "invalid_uri")


async def test_the_release_from_the_api_is_the_clis_release(lite_admin: Admin) -> None:
    """Blocked through the API's login, listed by the CLI, released by the API."""
    admin = lite_admin
    cli = cli_for(admin)
    await _block_alice(admin, IP_A)
    listed = cli.json("blocks", "list", "--identifier", "ALICE")["blocked_for"]
    assert [(row["identifier"], row["ip"]) for row in listed] == [("alice@example.com", IP_A)]
    await admin.call("DELETE", "/user-blocks", params={"identifier": "alice"})
    assert cli.json("blocks", "list", "--identifier", "alice")["blocked_for"] == []
