"""``/api/v2/users`` and ``/api/v2/users-by-email``: Auth0's shapes, strict bodies and
queries, passwords checked and hashed as at sign-up and never shown, blocks and logins."""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from passgate.storage.directory import DEFAULT_CONNECTION
from tests.management.helpers import Admin, api_events, assert_api_error
from tests.protection_e2e.helpers import IP_A, PASSWORD, WRONG

pytestmark = pytest.mark.anyio

NEW_PASSWORD = "a brand new passphrase 7"
USER_KEYS = {
    "user_id", "email", "email_verified", "identities", "user_metadata", "app_metadata",
    "blocked", "created_at", "updated_at",
}  # fmt: skip


def _new(email: Any = "dora@example.com", **extra: Any) -> dict[str, Any]:
    return {"connection": DEFAULT_CONNECTION, "email": email, "password": NEW_PASSWORD, **extra}


async def _create(admin: Admin, **body: Any) -> dict[str, Any]:
    response = await admin.call("POST", "/users", json=_new(**body))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _no_secret(text: str, *secrets: str) -> None:
    for secret in (PASSWORD, NEW_PASSWORD, "$argon2", *secrets):
        assert secret not in text


def _events_text(admin: Admin) -> str:
    return json.dumps([event.to_json() for event in admin.stack.events.events], default=str)


# -- create ------------------------------------------------------------------------------


async def test_create_answers_auth0_s_user_and_the_user_logs_in(admin: Admin) -> None:
    created = await _create(
        admin,
        username="dora",
        given_name="Dora",
        family_name="Explorer",
        name="Dora E.",
        nickname="dee",
        picture="https://example.com/d.png",
        user_metadata={"theme": "dark", "nested": {"a": [1, 2]}},
        app_metadata={"plan": "gold"},
        email_verified=True,
    )
    assert set(created) >= USER_KEYS
    assert created["user_id"].startswith("auth0|")
    assert created["identities"] == [
        {
            "connection": DEFAULT_CONNECTION,
            "user_id": created["user_id"].removeprefix("auth0|"),
            "provider": "auth0",
            "isSocial": False,
        }
    ]
    assert created["user_metadata"] == {"theme": "dark", "nested": {"a": [1, 2]}}
    assert created["app_metadata"] == {"plan": "gold"}
    assert (created["email_verified"], created["blocked"], created["username"]) == (
        True,
        False,
        "dora",
    )
    assert created["created_at"].endswith("Z")
    assert "password" not in created
    login = await admin.stack.login(admin.http, "Dora@Example.com", NEW_PASSWORD)
    assert login.status_code == 200, login.text
    [event] = api_events(admin.stack, "sapi")
    assert event.details["changes"]["password"] == "(changed)"
    assert event.details["changes"]["user_id"] == created["user_id"]
    _no_secret(_events_text(admin))


async def test_create_hashes_in_the_hashing_pool(
    admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    hasher = admin.stack.passgate.hasher
    real = hasher.hash
    threads: list[str] = []

    def spy(password: str) -> str:
        threads.append(threading.current_thread().name)
        return real(password)

    monkeypatch.setattr(hasher, "hash", spy)
    await _create(admin)
    assert len(threads) == 1
    assert threads[0].startswith("passgate-hash")


async def test_create_refuses_a_duplicate_email_or_username_in_any_spelling(admin: Admin) -> None:
    for body in (
        _new("ALICE@example.com"),
        _new("\uff41lice@example.com"),  # fullwidth a: the same address after NFKC
        _new("other@example.com", username="Alice"),
    ):
        response = await admin.call("POST", "/users", json=body)
        assert_api_error(response, 409, "auth0_idp_error")
        _no_secret(response.text)
    assert len(admin.stack.passgate.directory.list_users()) == 3


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"email": "x@example.com", "password": NEW_PASSWORD}, "required property: connection"),
        ({"connection": DEFAULT_CONNECTION, "password": NEW_PASSWORD}, "required property: email"),
        ({"connection": DEFAULT_CONNECTION, "email": "x@example.com"}, "property: password"),
        (_new(extra=1), "Additional properties not allowed: extra"),
        (_new(email="not-an-email"), "on property email"),
        (_new(email=""), "String is too short"),
        (_new(email=7), "Expected type string but found type integer"),
        (_new(password=""), "on property password"),
        (_new(password=None), "Expected type string but found type null"),
        (_new(password="x" * 4097), "maximum 4096"),
        (_new(username="a@b"), "on property username"),
        (_new(username="u" * 129), "username is too long"),
        (_new(email="e" * 309 + "@example.com"), "email is too long"),
        (_new(email="ß" * 155 + "@example.com"), "once case-folded"),
        (_new(blocked="yes"), "Expected type boolean"),
        (_new(email_verified=1), "Expected type boolean"),
        (_new(user_metadata=[]), "Expected type object but found type array"),
        (_new(user_metadata={"a.b": "x"}), "on property user_metadata"),
        (_new(app_metadata={"big": "x" * 9000}), "Object is too large"),
        (_new(app_metadata={"n": 2**64}), "outside the 64-bit range"),
        (_new(user_metadata={"n": {"m": [-(2**63) - 1]}}), "outside the 64-bit range"),
        (_new(picture="javascript:alert(1)"), "picture"),
        (_new(given_name="   "), "given_name"),
        (_new(connection="Nope"), "no database connection"),
    ],
)  # fmt: skip
async def test_create_refuses_bad_bodies(admin: Admin, body: dict[str, Any], needle: str) -> None:
    response = await admin.call("POST", "/users", json=body)
    error = assert_api_error(response, 400, response.json().get("errorCode", ""))
    assert needle in error["message"], error
    _no_secret(response.text)
    assert len(admin.stack.passgate.directory.list_users()) == 3


async def test_create_at_the_length_limits(admin: Admin) -> None:
    email = "e" * 308 + "@example.com"
    created = await _create(admin, email=email, username="u" * 128, name="n" * 256)
    assert (created["email"], created["username"]) == (email, "u" * 128)


async def test_create_applies_the_password_policy_and_breached_detection(admin: Admin) -> None:
    short = await admin.call("POST", "/users", json=_new(password="short"))
    assert_api_error(short, 400, "invalid_password")
    leaked = await admin.call("POST", "/users", json=_new(password="AUTH0-TEST-leaked one"))
    assert_api_error(leaked, 400, "password_leaked")
    [event] = admin.stack.events.of_type("signup_pwd_leak")
    assert event.client_id == admin.client.id
    assert event.user_name == "dora@example.com"
    assert len(admin.stack.passgate.directory.list_users()) == 3
    _no_secret(_events_text(admin), "AUTH0-TEST-leaked one", "short")


async def test_create_refuses_what_is_not_a_json_object(admin: Admin) -> None:
    for content in (b"[]", b"not json", b'{"email": "a", "email": "b"}'):
        response = await admin.call(
            "POST", "/users", content=content, headers={"content-type": "application/json"}
        )
        assert_api_error(response, 400, "invalid_body")


async def test_a_user_created_blocked_gets_401_at_login(admin: Admin) -> None:
    await _create(admin, blocked=True)
    login = await admin.stack.login(admin.http, "dora@example.com", NEW_PASSWORD)
    assert login.status_code == 401
    assert login.json()["error"] == "unauthorized"


# -- read, list, search ------------------------------------------------------------------


async def test_get_a_user_and_404_for_an_unknown_one(admin: Admin) -> None:
    alice = admin.stack.alice
    response = await admin.call("GET", f"/users/{quote(alice.id)}")
    assert response.status_code == 200
    assert response.json()["email"] == "alice@example.com"
    _no_secret(response.text)
    for unknown in ("auth0|nobody", "x" * 300, "%C3%A9"):
        assert_api_error(await admin.call("GET", f"/users/{unknown}"), 404, "inexistent_user")


async def test_list_is_a_bare_array_or_a_page_with_totals(admin: Admin) -> None:
    listed = await admin.call("GET", "/users")
    assert [u["email"] for u in listed.json()] == [
        "alice@example.com", "bob@example.com", "carol@example.com",
    ]  # fmt: skip
    _no_secret(listed.text)
    page = await admin.call(
        "GET", "/users", params={"page": "1", "per_page": "2", "include_totals": "true"}
    )
    body = page.json()
    assert {k: body[k] for k in ("start", "limit", "length", "total")} == {
        "start": 2, "limit": 2, "length": 1, "total": 3,
    }  # fmt: skip
    assert [u["email"] for u in body["users"]] == ["carol@example.com"]
    newest = await admin.call("GET", "/users", params={"sort": "email:-1", "per_page": "1"})
    assert [u["email"] for u in newest.json()] == ["carol@example.com"]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ('email:"ALICE@example.com"', ["alice"]),
        ("email:alice@example.com", ["alice"]),
        ("username:BOB", ["bob"]),
        ("bob", ["bob"]),
        ("Carol@Example.com", ["carol"]),
        ("email:car*", ["carol"]),
        ("username:alice OR username:bob", ["alice", "bob"]),
        ("username:alice AND email:bob@example.com", []),
        ("email:nobody@example.com", []),
        ("", ["alice", "bob", "carol"]),
    ],
)
async def test_search_by_email_username_and_user_id(
    admin: Admin, q: str, expected: list[str]
) -> None:
    response = await admin.call("GET", "/users", params={"q": q, "search_engine": "v3"})
    assert response.status_code == 200, response.text
    assert [u["username"] for u in response.json()] == expected


async def test_search_by_user_id(admin: Admin) -> None:
    bob = admin.stack.bob
    for q in (f"user_id:{bob.id}", f'user_id:"{bob.id}"', bob.id):
        response = await admin.call("GET", "/users", params={"q": q})
        assert [u["user_id"] for u in response.json()] == [bob.id], q


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"q": "password:x"}, "Unknown field 'password' at position 0"),
        ({"q": "email:a*"}, "at least 3 characters"),
        ({"q": "email:a*b"}, "wildcard may only end"),
        ({"q": "alice bob"}, "Expected AND or OR at position 5"),
        ({"q": "alice AND"}, "Expected a term after the operator"),
        ({"q": "a AND b OR c"}, "either AND or OR"),
        ({"q": 'email:""'}, "Empty value"),
        ({"q": "(alice)"}, "Unexpected character '(' at position 0"),
        ({"q": "x" * 1001}, "maximum 1000"),
        ({"per_page": "101"}, "greater than maximum 100"),
        ({"per_page": "0"}, "less than minimum 1"),
        ({"page": "-1"}, "less than minimum 0"),
        ({"page": "one"}, "Expected type integer"),
        ({"include_totals": "yes"}, "Expected type boolean"),
        ({"sort": "password:1"}, "on property sort"),
        ({"search_engine": "v9"}, "search_engine"),
        ({"fields": "email"}, "Additional properties not allowed: fields"),
    ],
)
async def test_list_refuses_bad_queries_saying_where(
    admin: Admin, params: dict[str, str], needle: str
) -> None:
    response = await admin.call("GET", "/users", params=params)
    error = assert_api_error(response, 400, "invalid_query_string")
    assert needle in error["message"], error


async def test_list_refuses_a_repeated_parameter(admin: Admin) -> None:
    response = await admin.call("GET", "/users?q=alice&q=bob")
    assert_api_error(response, 400, "invalid_query_string")


async def test_users_by_email_in_any_letter_case(admin: Admin) -> None:
    for spelling in ("alice@example.com", "ALICE@Example.COM", "\uff41lice@example.com"):
        response = await admin.call("GET", "/users-by-email", params={"email": spelling})
        assert [u["user_id"] for u in response.json()] == [admin.stack.alice.id], spelling
    nobody = await admin.call("GET", "/users-by-email", params={"email": "nobody@example.com"})
    assert nobody.json() == []
    huge = await admin.call("GET", "/users-by-email", params={"email": "a" * 2000})
    assert huge.json() == []
    missing = await admin.call("GET", "/users-by-email")
    assert_api_error(missing, 400, "invalid_query_string")
    empty = await admin.call("GET", "/users-by-email", params={"email": ""})
    assert_api_error(empty, 400, "invalid_query_string")
    twice = await admin.call("GET", "/users-by-email?email=a@example.com&email=b@example.com")
    assert_api_error(twice, 400, "invalid_query_string")


# -- update ------------------------------------------------------------------------------


async def _patch(admin: Admin, user_id: str, body: Any) -> httpx.Response:
    return await admin.call("PATCH", f"/users/{quote(user_id)}", json=body)


async def test_patch_password_then_only_the_new_one_logs_in(admin: Admin) -> None:
    alice = admin.stack.alice
    response = await _patch(admin, alice.id, {"password": NEW_PASSWORD})
    assert response.status_code == 200, response.text
    _no_secret(response.text)
    new = await admin.stack.login(admin.http, "alice", NEW_PASSWORD)
    assert new.status_code == 200, new.text
    old = await admin.stack.login(admin.http, "alice", PASSWORD)
    assert old.status_code == 403
    [event] = api_events(admin.stack, "sapi")
    assert event.details["changes"] == {"user_id": alice.id, "password": "(changed)"}
    _no_secret(_events_text(admin))


async def test_patch_password_releases_the_brute_force_blocks(admin: Admin) -> None:
    await admin.call("PATCH", "/attack-protection/brute-force-protection", json={"max_attempts": 2})
    for _ in range(2):
        await admin.stack.login(admin.http, "alice", WRONG, forwarded=IP_A)
    blocked = await admin.stack.login(admin.http, "alice", PASSWORD, forwarded=IP_A)
    assert blocked.status_code == 429
    await _patch(admin, admin.stack.alice.id, {"password": NEW_PASSWORD})
    [released] = admin.stack.events.of_type("ublkdu")
    assert released.details["released_by"] == "password change (administrator (management api))"
    after = await admin.stack.login(admin.http, "alice", NEW_PASSWORD, forwarded=IP_A)
    assert after.status_code == 200, after.text


async def test_patch_password_is_checked_like_a_password_change(admin: Admin) -> None:
    alice = admin.stack.alice
    assert_api_error(await _patch(admin, alice.id, {"password": "short"}), 400, "invalid_password")
    leaked = await _patch(admin, alice.id, {"password": "AUTH0-TEST-leaked"})
    assert_api_error(leaked, 400, "password_leaked")
    assert len(admin.stack.events.of_type("reset_pwd_leak")) == 1
    login = await admin.stack.login(admin.http, "alice", PASSWORD)
    assert login.status_code == 200


async def test_blocked_users_get_401_and_unblocked_log_in_again(admin: Admin) -> None:
    alice = admin.stack.alice
    assert (await _patch(admin, alice.id, {"blocked": True})).json()["blocked"] is True
    login = await admin.stack.login(admin.http, "alice", PASSWORD)
    assert login.status_code == 401
    assert login.json()["error"] == "unauthorized"
    await _patch(admin, alice.id, {"blocked": False})
    assert (await admin.stack.login(admin.http, "alice", PASSWORD)).status_code == 200


async def test_metadata_merges_one_level_deep(admin: Admin) -> None:
    alice = admin.stack.alice
    metadata = {"user_metadata": {"a": 1, "b": {"x": 1, "y": 2}}, "app_metadata": {"p": 1}}
    first = await _patch(admin, alice.id, metadata)
    assert first.json()["user_metadata"] == {"a": 1, "b": {"x": 1, "y": 2}}
    second = await _patch(admin, alice.id, {"user_metadata": {"b": {"x": 9}, "a": None, "c": "n"}})
    assert second.json()["user_metadata"] == {"b": {"x": 9}, "c": "n"}
    assert second.json()["app_metadata"] == {"p": 1}
    emptied = await _patch(admin, alice.id, {"app_metadata": {}})
    assert emptied.json()["app_metadata"] == {}
    assert emptied.json()["user_metadata"] == {"b": {"x": 9}, "c": "n"}


async def test_patch_profile_fields_email_and_verification(admin: Admin) -> None:
    alice = admin.stack.alice
    await _patch(admin, alice.id, {"email_verified": True})
    changed = await _patch(
        admin, alice.id, {"email": "Alice.New@example.com", "given_name": "Alice", "nickname": "al"}
    )
    body = changed.json()
    assert (body["email"], body["email_verified"], body["given_name"]) == (
        "Alice.New@example.com",
        False,
        "Alice",
    )
    cleared = await _patch(admin, alice.id, {"given_name": None, "username": None})
    assert "given_name" not in cleared.json()
    assert "username" not in cleared.json()
    login = await admin.stack.login(admin.http, "alice.new@EXAMPLE.com", PASSWORD)
    assert login.status_code == 200, login.text


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"email": "bob@example.com"}, 409, "auth0_idp_error"),
        ({"username": "BOB"}, 409, "auth0_idp_error"),
        ({"email": None}, 400, "invalid_body"),
        ({"blocked": "true"}, 400, "invalid_body"),
        ({"unknown": 1}, 400, "invalid_body"),
        ({"user_metadata": "x"}, 400, "invalid_body"),
        ({"password": ""}, 400, "invalid_body"),
        ({"connection": "Elsewhere"}, 400, "invalid_body"),
        ({"name": "n" * 257}, 400, "invalid_body"),
    ],
)
async def test_patch_refuses_bad_bodies_and_changes_nothing(
    admin: Admin, body: dict[str, Any], status: int, code: str
) -> None:
    alice = admin.stack.alice
    assert_api_error(await _patch(admin, alice.id, body), status, code)
    assert admin.stack.passgate.directory.get_user(alice.id) == alice


async def test_patch_and_delete_unknown_users_are_404(admin: Admin) -> None:
    assert_api_error(await _patch(admin, "auth0|nobody", {"blocked": True}), 404, "inexistent_user")
    assert_api_error(await admin.call("DELETE", "/users/auth0|nobody"), 404, "inexistent_user")


async def test_an_empty_patch_changes_nothing(admin: Admin) -> None:
    alice = admin.stack.alice
    response = await _patch(admin, alice.id, {})
    assert response.status_code == 200
    assert admin.stack.passgate.directory.get_user(alice.id) == alice


# -- delete ------------------------------------------------------------------------------


async def test_delete_removes_the_user_who_then_cannot_log_in(admin: Admin) -> None:
    alice = admin.stack.alice
    response = await admin.call("DELETE", f"/users/{quote(alice.id)}")
    assert response.status_code == 204
    assert response.content == b""
    assert_api_error(await admin.call("GET", f"/users/{quote(alice.id)}"), 404, "inexistent_user")
    assert (await admin.stack.login(admin.http, "alice", PASSWORD)).status_code == 403
    [event] = api_events(admin.stack, "sapi")
    assert event.details["changes"] == {"user_id": alice.id, "deleted": True}
