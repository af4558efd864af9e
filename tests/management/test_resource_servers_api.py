"""``/api/v2/resource-servers``: APIs in Auth0's shape, named by id or identifier; the
Management API's own is listed, takes a new token lifetime only and is never deleted."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from tests.management.helpers import AUDIENCE, Admin, api_events, assert_api_error

pytestmark = pytest.mark.anyio

ORDERS = "https://orders.example/v1/"
SHOWN = {"id", "name", "identifier", "is_system", "scopes", "signing_alg",
         "allow_offline_access", "token_lifetime"}  # fmt: skip


def _path(id_or_identifier: str) -> str:
    return "/resource-servers/" + quote(id_or_identifier, safe="")


async def _create(admin: Admin, **body: Any) -> dict[str, Any]:
    response = await admin.call("POST", "/resource-servers", json={"identifier": ORDERS, **body})
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


async def test_create_read_by_id_or_identifier_update_delete(admin: Admin) -> None:
    made = await _create(
        admin,
        name="Orders ✓",
        scopes=[{"value": "read:orders", "description": "Read them"}, {"value": "write:orders"}],
        token_lifetime=3600,
        allow_offline_access=True,
        signing_alg="ES256",
    )
    assert set(made) == SHOWN
    assert made["is_system"] is False
    assert made["scopes"] == [{"value": "read:orders"}, {"value": "write:orders"}]
    for name in (made["id"], ORDERS):
        read = await admin.call("GET", _path(name))
        assert read.json() == made
    changed = await admin.call(
        "PATCH", _path(ORDERS), json={"name": "Orders", "scopes": [{"value": "read:orders"}]}
    )
    assert changed.json() == {**made, "name": "Orders", "scopes": [{"value": "read:orders"}]}
    deleted = await admin.call("DELETE", _path(made["id"]))
    assert deleted.status_code == 204
    for method in ("GET", "DELETE"):
        gone = await admin.call(method, _path(ORDERS))
        assert_api_error(gone, 404, "inexistent_resource_server")
    events = api_events(admin.stack)
    assert [e.details["response"]["statusCode"] for e in events] == [201, 200, 204, 404]
    assert events[1].details["changes"] == {
        "id": made["id"],
        "name": "Orders",
        "scopes": ["read:orders"],
    }


async def test_the_system_api_is_listed_and_guarded(admin: Admin) -> None:
    listed = (await admin.call("GET", "/resource-servers")).json()
    [system] = [api for api in listed if api["is_system"]]
    assert system["identifier"] == AUDIENCE
    assert {"value": "read:clients"} in system["scopes"]
    bodies: list[dict[str, Any]] = [
        {"name": "Mine"},
        {"scopes": []},
        {"token_lifetime": 600, "signing_alg": "ES256"},
    ]
    for body in bodies:
        refused = await admin.call("PATCH", _path(system["id"]), json=body)
        assert (
            "Additional properties not allowed"
            in assert_api_error(refused, 400, "invalid_body")["message"]
        )
    deleted = await admin.call("DELETE", _path(AUDIENCE))
    assert_api_error(deleted, 400, "operation_not_supported")
    lifetime = await admin.call("PATCH", _path(AUDIENCE), json={"token_lifetime": 3600})
    assert lifetime.json() == {**system, "token_lifetime": 3600}
    assert (await admin.call("GET", _path(system["id"]))).json()["token_lifetime"] == 3600


async def test_a_duplicate_identifier_is_409(admin: Admin) -> None:
    await _create(admin)
    for identifier in (ORDERS, AUDIENCE):
        again = await admin.call("POST", "/resource-servers", json={"identifier": identifier})
        assert_api_error(again, 409, "conflict")


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({}, "Missing required property: identifier"),
        ({"identifier": ""}, "String is too short"),
        ({"identifier": "orders"}, "identifier must be an absolute URL"),
        ({"identifier": "https://a.example/" + "x" * 600}, "String is too long"),
        ({"identifier": ORDERS, "name": "x" * 257}, "String is too long (257 chars)"),
        ({"identifier": ORDERS, "name": " "}, "name must not be empty"),
        ({"identifier": ORDERS, "scopes": "read"}, "Expected type array"),
        ({"identifier": ORDERS, "scopes": ["read"]}, "Expected type object"),
        ({"identifier": ORDERS, "scopes": [{"description": "x"}]}, "Missing required property"),
        ({"identifier": ORDERS, "scopes": [{"value": "a b"}]}, "invalid scope"),
        ({"identifier": ORDERS, "scopes": [{"value": "openid"}]}, "OpenID Connect scope"),
        ({"identifier": ORDERS, "scopes": [{"value": "a"}, {"value": "a"}]}, "given twice"),
        ({"identifier": ORDERS, "token_lifetime": True}, "Expected type integer"),
        ({"identifier": ORDERS, "token_lifetime": 59}, "token_lifetime must be 60"),
        ({"identifier": ORDERS, "token_lifetime": 1.5}, "Expected type integer"),
        ({"identifier": ORDERS, "signing_alg": "HS256"}, "signing_alg must be one of"),
        ({"identifier": ORDERS, "allow_offline_access": 1}, "Expected type boolean"),
        ({"identifier": ORDERS, "skip_consent_for_verifiable_first_party_clients": True},
         "Additional properties not allowed"),
    ],
)  # fmt: skip
async def test_a_refused_body_is_a_400_that_says_why(
    admin: Admin, body: dict[str, Any], says: str
) -> None:
    response = await admin.call("POST", "/resource-servers", json=body)
    assert says in assert_api_error(response, 400, "invalid_body")["message"]
    assert admin.stack.passgate.applications.api_by_identifier(ORDERS) is None


async def test_identifier_is_not_changed_by_patch(admin: Admin) -> None:
    made = await _create(admin)
    refused = await admin.call(
        "PATCH", _path(made["id"]), json={"identifier": "https://x.example/"}
    )
    assert (
        "Additional properties not allowed: identifier"
        in assert_api_error(refused, 400, "invalid_body")["message"]
    )


async def test_deleting_an_api_deletes_its_grants_and_tokens_for_it_stop(admin: Admin) -> None:
    await _create(admin, scopes=[{"value": "read:orders"}])
    body = {"client_id": admin.client.id, "audience": ORDERS, "scope": ["read:orders"]}
    assert (await admin.call("POST", "/client-grants", json=body)).status_code == 201
    form = {"grant_type": "client_credentials", "client_id": admin.client.id,
            "client_secret": admin.client.secret or "", "audience": ORDERS}  # fmt: skip
    assert (await admin.http.post("/oauth/token", data=form)).status_code == 200
    assert (await admin.call("DELETE", _path(ORDERS))).status_code == 204
    assert (await admin.call("GET", "/client-grants", params={"audience": ORDERS})).json() == []
    refused = await admin.http.post("/oauth/token", data=form)
    assert refused.status_code == 403, refused.text


async def test_paging(admin: Admin) -> None:
    for n in range(3):
        await _create(admin, identifier=f"https://api{n}.example/")
    everyone = (await admin.call("GET", "/resource-servers")).json()
    assert len(everyone) == 4
    page = await admin.call(
        "GET", "/resource-servers", params={"page": 1, "per_page": 3, "include_totals": "true"}
    )
    assert page.json() == {"start": 3, "limit": 3, "total": 4, "resource_servers": everyone[3:]}
    assert (await admin.call("GET", "/resource-servers", params={"page": 9})).json() == []
    assert (
        await admin.call("GET", "/resource-servers", params={"include_fields": "true"})
    ).json() == everyone
    for nothing in ("/resource-servers/", "/resource-servers//"):  # no API is named "" or "/"
        assert_api_error(await admin.call("GET", nothing), 404, "not_found")
    for params in ({"per_page": 101}, {"identifiers": ORDERS}):
        refused = await admin.call("GET", "/resource-servers", params=params)
        assert_api_error(refused, 400, "invalid_query_string")
