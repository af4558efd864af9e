"""``/api/v2/client-grants``: grants in Auth0's shapes over HTTP, with the filters and both
pagings; a new grant lets its client get a token for the API at once."""

from __future__ import annotations

from typing import Any

import pytest

from tests.management.helpers import AUDIENCE, Admin, api_events, assert_api_error

pytestmark = pytest.mark.anyio

ORDERS = "https://orders.example/"


async def _setup(admin: Admin) -> tuple[str, str]:
    """An API with two scopes and a machine client; returns the client's id and secret."""
    api = await admin.call(
        "POST",
        "/resource-servers",
        json={"identifier": ORDERS, "scopes": [{"value": "read:orders"}, {"value": "write"}]},
    )
    assert api.status_code == 201, api.text
    made = await admin.call(
        "POST", "/clients", json={"name": "Backend", "app_type": "non_interactive"}
    )
    client: dict[str, Any] = made.json()
    return str(client["client_id"]), str(client["client_secret"])


async def _token(admin: Admin, client: tuple[str, str]) -> Any:
    client_id, secret = client
    form = {"grant_type": "client_credentials", "client_id": client_id,
            "client_secret": secret, "audience": ORDERS}  # fmt: skip
    return await admin.http.post("/oauth/token", data=form)


async def test_create_list_update_delete_and_the_token_follows(admin: Admin) -> None:
    client = await _setup(admin)
    client_id = client[0]
    assert (await _token(admin, client)).status_code == 403  # no grant yet
    body = {"client_id": client_id, "audience": ORDERS, "scope": ["read:orders"]}
    created = await admin.call("POST", "/client-grants", json=body)
    assert created.status_code == 201, created.text
    grant = created.json()
    assert grant == {**body, "id": grant["id"], "is_system": False, "subject_type": "client"}
    token = await _token(admin, client)
    assert token.status_code == 200, token.text
    assert token.json()["scope"] == "read:orders"
    assert (await admin.call("GET", f"/client-grants/{grant['id']}")).json() == grant
    listed = await admin.call("GET", "/client-grants", params={"audience": ORDERS})
    assert listed.json() == [grant]
    assert (await admin.call("GET", "/client-grants", params={"client_id": client_id})).json() == [
        grant
    ]
    changed = await admin.call(
        "PATCH", f"/client-grants/{grant['id']}", json={"scope": ["read:orders", "write"]}
    )
    assert changed.json()["scope"] == ["read:orders", "write"]
    assert (await _token(admin, client)).json()["scope"] == "read:orders write"
    deleted = await admin.call("DELETE", f"/client-grants/{grant['id']}")
    assert deleted.status_code == 204
    assert (await _token(admin, client)).status_code == 403
    events = api_events(admin.stack, "sapi")
    assert [e.details["request"]["method"] for e in events][-3:] == ["post", "patch", "delete"]


async def test_refusals(admin: Admin) -> None:
    client_id, _ = await _setup(admin)
    body = {"client_id": client_id, "audience": ORDERS, "scope": []}
    assert (await admin.call("POST", "/client-grants", json=body)).status_code == 201
    assert_api_error(await admin.call("POST", "/client-grants", json=body), 409, "conflict")
    for wrong, status, code in (
        ({**body, "client_id": "nobody"}, 404, "inexistent_client"),
        ({**body, "audience": "https://none.example/"}, 404, "inexistent_resource_server"),
        ({**body, "scope": ["delete:orders"]}, 400, "invalid_body"),
        ({**body, "scope": "read:orders"}, 400, "invalid_body"),
        ({**body, "subject_type": "user"}, 400, "invalid_body"),
        ({**body, "extra": 1}, 400, "invalid_body"),
        ({"client_id": client_id, "audience": ORDERS}, 400, "invalid_body"),
    ):
        assert_api_error(await admin.call("POST", "/client-grants", json=wrong), status, code)
    for method, json in (("GET", None), ("PATCH", {"scope": []}), ("DELETE", None)):
        missing = await admin.call(method, "/client-grants/cgr_nope", json=json)
        assert_api_error(missing, 404, "inexistent_client_grant")


async def test_both_pagings_at_and_past_their_limits(admin: Admin) -> None:
    client_id, _ = await _setup(admin)
    await admin.call("POST", "/client-grants",
                     json={"client_id": client_id, "audience": ORDERS, "scope": []})  # fmt: skip
    everyone = (await admin.call("GET", "/client-grants")).json()
    assert len(everyone) == 2  # the admin tool's and this one
    first = await admin.call("GET", "/client-grants", params={"take": 1})
    assert first.json() == {"client_grants": everyone[:1], "next": everyone[1]["id"]}
    last = await admin.call(
        "GET", "/client-grants", params={"from": everyone[1]["id"], "take": 1,
                                         "include_totals": "false"},
    )  # fmt: skip
    assert last.json() == {"client_grants": everyone[1:]}
    totals = await admin.call(
        "GET", "/client-grants", params={"per_page": 1, "page": 1, "include_totals": "true"}
    )
    assert totals.json() == {"start": 1, "limit": 1, "total": 2, "client_grants": everyone[1:]}
    assert (await admin.call("GET", "/client-grants", params={"page": 5})).json() == []
    for params in ({"take": 101}, {"per_page": 0}, {"from": everyone[0]["id"], "page": 0},
                   {"audience": ""}, {"subject_type": "client"}):  # fmt: skip
        refused = await admin.call("GET", "/client-grants", params=params)
        assert_api_error(refused, 400, "invalid_query_string")
    mine = await admin.call("GET", "/client-grants", params={"audience": AUDIENCE})
    assert [g["client_id"] for g in mine.json()] == [admin.client.id]
