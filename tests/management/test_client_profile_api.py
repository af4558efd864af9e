"""A client's profile in ``/api/v2/clients``: ``description``, ``logo_uri``, the URL lists
and ``client_metadata``, as Auth0's SDKs send them when they make a client; stored,
shown, changed one field at a time, refused past Auth0's limits with nothing changed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.management.helpers import Admin, api_events, assert_api_error

pytestmark = pytest.mark.anyio

PROFILE = {
    "description": "Le café ☕ backend",
    "logo_uri": "https://cdn.example.com/logo.png",
    "callbacks": ["https://app.example.com/callback", "com.example.app://callback"],
    "allowed_logout_urls": ["https://app.example.com/"],
    "web_origins": ["https://*.example.com"],
    "allowed_origins": ["http://localhost:3000"],
    "client_metadata": {"team": "payments", "tier-1_flag": "yes"},
}
EMPTY = {
    "description": "",
    "logo_uri": "",
    "callbacks": [],
    "allowed_logout_urls": [],
    "web_origins": [],
    "allowed_origins": [],
    "client_metadata": {},
}


async def _create(admin: Admin, **body: Any) -> dict[str, Any]:
    response = await admin.call("POST", "/clients", json={"name": "Backend", **body})
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    made.pop("client_secret", None)
    return made


async def test_a_profile_is_stored_shown_and_survives_a_settings_change(admin: Admin) -> None:
    made = await _create(admin, **PROFILE)
    assert {name: made[name] for name in PROFILE} == PROFILE
    read = (await admin.call("GET", f"/clients/{made['client_id']}")).json()
    assert read == made
    patched = await admin.call(
        "PATCH", f"/clients/{made['client_id']}", json={"grant_types": ["password"]}
    )
    assert {name: patched.json()[name] for name in PROFILE} == PROFILE


async def test_a_client_without_a_profile_shows_empty_fields(admin: Admin) -> None:
    made = await _create(admin)
    assert {name: made[name] for name in EMPTY} == EMPTY


async def test_patch_replaces_the_fields_it_names_and_empty_values_clear(admin: Admin) -> None:
    made = await _create(admin, **PROFILE)
    path = f"/clients/{made['client_id']}"
    one = await admin.call("PATCH", path, json={"callbacks": ["https://new.example.com/cb"]})
    assert one.status_code == 200, one.text
    assert one.json()["callbacks"] == ["https://new.example.com/cb"]
    assert one.json()["web_origins"] == PROFILE["web_origins"]
    assert one.json()["client_metadata"] == PROFILE["client_metadata"]
    cleared = await admin.call("PATCH", path, json=EMPTY)
    assert {name: cleared.json()[name] for name in EMPTY} == EMPTY
    events = api_events(admin.stack)
    assert events[-2].details["changes"]["callbacks"] == ["https://new.example.com/cb"]
    assert events[-1].details["changes"]["client_metadata"] == {}


async def test_a_url_said_twice_is_kept_once(admin: Admin) -> None:
    made = await _create(admin, callbacks=["https://a.example/cb", "https://a.example/cb"])
    assert made["callbacks"] == ["https://a.example/cb"]


async def test_limits_are_met_exactly(admin: Admin) -> None:
    at_limit = {
        "description": "é" * 140,
        "callbacks": [f"https://a.example/{index}" for index in range(100)],
        "web_origins": ["https://a.example/" + "x" * (2048 - 18)],
        "client_metadata": {f"k{index}": "v" * 255 for index in range(10)} | {"k" * 1: "v"},
    }
    at_limit["client_metadata"] = {f"k{index}": "v" * 255 for index in range(9)} | {"k" * 255: "v"}
    made = await _create(admin, **at_limit)
    assert {name: made[name] for name in at_limit} == at_limit


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"description": "é" * 141}, "maximum 140"),
        ({"description": 5}, "Expected type string but found type integer"),
        ({"description": None}, "found type null"),
        ({"description": "a\x00b"}, "NUL"),
        ({"logo_uri": "not a url"}, "format absolute-uri"),
        ({"logo_uri": None}, "found type null"),
        ({"callbacks": "https://a.example/cb"}, "Expected type array"),
        ({"callbacks": [5]}, "on property callbacks[0]"),
        ({"callbacks": [""]}, "format absolute-uri"),
        ({"callbacks": ["/relative/path"]}, "format absolute-uri"),
        ({"callbacks": ["https://a.example/a b"]}, "format absolute-uri"),
        ({"callbacks": ["https://a.example/\nb"]}, "format absolute-uri"),
        ({"callbacks": ["javascript:alert(1)"]}, "format absolute-uri"),
        ({"allowed_logout_urls": ["https://a.example/" + "x" * 2031]}, "maximum 2048"),
        ({"web_origins": [f"https://a.example/{i}" for i in range(101)]}, "maximum 100"),
        ({"client_metadata": []}, "Expected type object"),
        ({"client_metadata": {f"k{i}": "v" for i in range(11)}}, "maximum 10"),
        ({"client_metadata": {"a b": "v"}}, "Property names"),
        ({"client_metadata": {"": "v"}}, "Property names"),
        ({"client_metadata": {"k" * 256: "v"}}, "Property names"),
        ({"client_metadata": {"café": "v"}}, "Property names"),
        ({"client_metadata": {"k": 1}}, "Expected type string"),
        ({"client_metadata": {"k": None}}, "found type null"),
        ({"client_metadata": {"k": "v" * 256}}, "at most 255"),
    ],
)  # fmt: skip
async def test_a_refused_profile_is_a_400_and_changes_nothing(
    admin: Admin, body: dict[str, Any], says: str
) -> None:
    made = await _create(admin, **PROFILE)
    before = len(admin.stack.passgate.applications.list_clients())
    created = await admin.call("POST", "/clients", json={"name": "X", **body})
    assert says in assert_api_error(created, 400, "invalid_body")["message"]
    assert len(admin.stack.passgate.applications.list_clients()) == before
    patched = await admin.call("PATCH", f"/clients/{made['client_id']}", json=body)
    assert says in assert_api_error(patched, 400, "invalid_body")["message"]
    read = (await admin.call("GET", f"/clients/{made['client_id']}")).json()
    assert read == made


async def test_concurrent_patches_of_different_fields_both_land(admin: Admin) -> None:
    made = await _create(admin)
    path = f"/clients/{made['client_id']}"
    applications = admin.stack.passgate.applications

    def change(field: str, value: Any) -> None:
        done = applications.update_client(made["client_id"], profile={field: value})
        assert done is not None

    await asyncio.gather(
        *(
            asyncio.to_thread(change, "callbacks", (f"https://a.example/{index}",))
            if index % 2
            else asyncio.to_thread(change, "description", f"d{index}")
            for index in range(10)
        )
    )
    read = (await admin.call("GET", path)).json()
    assert read["callbacks"]
    assert read["description"]
